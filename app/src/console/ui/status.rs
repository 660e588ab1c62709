//! What a console page tells its user about the connection.

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "hydrate"),
    allow(dead_code, reason = "the server renders the page before it connects")
)]
pub enum Status {
    /// The page is waiting for its code and the console's library.
    Loading,
    Connecting,
    Connected,
    /// The next attempt comes in `seconds`; `why` says what went wrong.
    Reconnecting {
        seconds: u32,
        why: String,
    },
    /// Someone else (the username) has the console; the user may take it over.
    InUse(String),
    /// Someone (the username) took the console over; the user may take it back.
    TakenOver(String),
    SignedOut,
    NotAllowed,
    /// The console cannot be had, for the reason given; trying again would not help.
    Unavailable(String),
}

impl Status {
    /// The status line.
    pub fn text(&self) -> String {
        match self {
            Status::Loading => "Loading the console…".to_owned(),
            Status::Connecting => "Connecting…".to_owned(),
            Status::Connected => "Connected".to_owned(),
            Status::Reconnecting { seconds, why } => format!("{why} Reconnecting in {seconds} s…"),
            Status::InUse(user) => format!("In use by {user}."),
            Status::TakenOver(user) => format!("Taken over by {user}."),
            Status::SignedOut => "Signed out: sign in again to use the console.".to_owned(),
            Status::NotAllowed => "Your role does not allow using this console.".to_owned(),
            Status::Unavailable(why) => why.clone(),
        }
    }

    /// A short name of the state, for styles and tests.
    pub fn key(&self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Reconnecting { .. } => "reconnecting",
            Status::InUse(_) => "in-use",
            Status::TakenOver(_) => "taken-over",
            Status::SignedOut => "signed-out",
            Status::NotAllowed => "not-allowed",
            Status::Unavailable(_) => "unavailable",
        }
    }

    /// The label of the button that takes the console over, where the user may.
    pub fn take_over_label(&self) -> Option<&'static str> {
        match self {
            Status::InUse(_) => Some("Take over"),
            Status::TakenOver(_) => Some("Take back"),
            _ => None,
        }
    }
}
