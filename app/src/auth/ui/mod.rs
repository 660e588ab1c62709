mod account;
mod admin_oidc;
mod admin_users;
mod login;
mod mfa_challenge;
mod mfa_settings;
mod password;
mod user_menu;

pub use account::AccountPage;
pub use admin_oidc::AdminOidcPage;
pub use admin_users::AdminUsersPage;
pub use login::LoginPage;
pub use mfa_challenge::MfaChallengePage;
pub use mfa_settings::MfaSettingsPage;
pub use password::PasswordPage;
pub use user_menu::UserMenu;
