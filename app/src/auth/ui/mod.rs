mod login;
mod password;
mod user_menu;

pub use login::LoginPage;
pub use password::PasswordPage;
pub use user_menu::UserMenu;
