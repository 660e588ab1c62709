//! The browser's one live connection: `/ws/events`, reconnected with backoff, handing each
//! event to the listeners of the page on screen.

use super::types::LiveEvent;
use leptos::prelude::*;

/// Whether live updates are flowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Live,
    /// Lost; the next attempt is scheduled.
    Reconnecting,
    /// The session is ending or ended (signing out): pages stop fetching on their own.
    Ended,
}

type Listener = (u64, std::sync::Arc<dyn Fn(&LiveEvent) + Send + Sync>);

/// Provided by the page chrome; pages call [`LiveFeed::listen`].
#[derive(Clone, Copy)]
pub struct LiveFeed {
    pub state: RwSignal<LiveState>,
    /// Why the cluster's watches fail, as the server last said; empty while they work.
    pub cluster_failures: RwSignal<Vec<String>>,
    listeners: StoredValue<Vec<Listener>>,
    next_id: StoredValue<u64>,
}

impl LiveFeed {
    /// Creates the feed, provides it to the pages below, and (in the browser) connects.
    pub fn provide() -> LiveFeed {
        let feed = LiveFeed {
            state: RwSignal::new(LiveState::Connecting),
            cluster_failures: RwSignal::new(Vec::new()),
            listeners: StoredValue::new(Vec::new()),
            next_id: StoredValue::new(0),
        };
        provide_context(feed);
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| connection::start(feed));
        feed
    }

    /// Calls `listener` with every event until the calling component is unmounted. After a
    /// reconnect listeners get a `Resync`, since events may have been missed meanwhile.
    pub fn listen(&self, listener: impl Fn(&LiveEvent) + Send + Sync + 'static) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.listeners
            .update_value(|listeners| listeners.push((id, std::sync::Arc::new(listener))));
        let listeners = self.listeners;
        on_cleanup(move || {
            listeners.try_update_value(|listeners| listeners.retain(|(other, _)| *other != id));
        });
    }

    /// Stops the feed's listeners for good, as the user signs out: a refetch a listener
    /// scheduled would only be refused.
    pub fn end(&self) {
        self.state.set(LiveState::Ended);
        self.listeners.update_value(Vec::clear);
    }

    /// Whether pages should still fetch what the feed tells them changed.
    pub fn active(&self) -> bool {
        self.state.get_untracked() != LiveState::Ended
    }

    #[cfg(feature = "hydrate")]
    fn dispatch(&self, event: &LiveEvent) {
        // Cloned out first: a listener may add or remove listeners.
        let listeners: Vec<_> = self
            .listeners
            .with_value(|listeners| listeners.iter().map(|(_, l)| l.clone()).collect());
        for listener in listeners {
            listener(event);
        }
    }
}

/// The feed of the page chrome.
pub fn use_live_feed() -> Option<LiveFeed> {
    use_context::<LiveFeed>()
}

/// A call that runs `fetch` a quarter of a second after it is first made, once however many
/// calls come meanwhile (a burst of events makes one fetch), and not at all once `feed`
/// has ended. Read the feed where the page is built: a timeout runs without context.
pub fn fetch_soon(
    feed: Option<LiveFeed>,
    fetch: impl Fn() + Copy + Send + Sync + 'static,
) -> impl Fn() + Copy + Send + Sync + 'static {
    let due = StoredValue::new(false);
    move || {
        if !due.get_value() {
            due.set_value(true);
            set_timeout(
                move || {
                    due.set_value(false);
                    if feed.is_none_or(|feed| feed.active()) {
                        fetch();
                    }
                },
                std::time::Duration::from_millis(250),
            );
        }
    }
}

#[cfg(feature = "hydrate")]
mod connection {
    use super::{LiveEvent, LiveFeed, LiveState};
    use crate::realtime::types::{CLOSE_SESSION_ENDED, CLOSE_SESSION_REPLACED};
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::{closure::Closure, JsCast as _};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    const FIRST_DELAY_MS: f64 = 500.0;

    /// Whether the session may use the application (sockets are refused otherwise); `None`
    /// when the server could not say, e.g. while it restarts.
    async fn signed_in() -> Option<bool> {
        match crate::auth::api::get_current_user().await {
            Ok(user) => Some(!user.must_change_password && !user.mfa_enrolment_required),
            Err(crate::AppError::Unauthorized) => Some(false),
            Err(_) => None,
        }
    }

    /// Connects once the page's session is known to be complete (the chrome also wraps
    /// the forced password change and MFA set-up pages, where the socket would be refused).
    pub(super) fn start(feed: LiveFeed) {
        leptos::task::spawn_local(async move {
            if signed_in().await == Some(true) {
                connect(feed, 0);
            }
        });
    }
    const MAX_DELAY_MS: f64 = 15_000.0;

    fn url() -> Option<String> {
        let location = window().location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}{}",
            location.host().ok()?,
            crate::realtime::types::EVENTS_PATH
        ))
    }

    /// Waits, longer after each failure and with jitter so that many browsers coming back
    /// after a restart do not arrive at once, then connects again.
    fn retry(feed: LiveFeed, failures: u32) {
        feed.state.set(LiveState::Reconnecting);
        let ceiling = (FIRST_DELAY_MS * 2f64.powi(failures.min(10) as i32)).min(MAX_DELAY_MS);
        let delay = ceiling / 2.0 + js_sys::Math::random() * ceiling / 2.0;
        set_timeout(
            move || {
                if feed.active() {
                    connect(feed, failures + 1)
                }
            },
            Duration::from_millis(delay as u64),
        );
    }

    fn sign_in_again(feed: LiveFeed) {
        feed.end();
        let _ = window().location().set_href("/login");
    }

    pub(super) fn connect(feed: LiveFeed, failures: u32) {
        let Some(socket) = url().and_then(|url| WebSocket::new(&url).ok()) else {
            retry(feed, failures);
            return;
        };
        let opened = std::rc::Rc::new(std::cell::Cell::new(false));
        let on_open = {
            let opened = opened.clone();
            Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                feed.state.set(LiveState::Live);
                // The server says at once if they still fail.
                feed.cluster_failures.set(Vec::new());
                // Whatever happened while the socket was down (or before it first opened,
                // after the page loaded its data) must be fetched again.
                feed.dispatch(&LiveEvent::Resync);
            })
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let event = message
                .data()
                .as_string()
                .and_then(|text| serde_json::from_slice::<LiveEvent>(text.as_bytes()).ok());
            match event {
                Some(LiveEvent::ClusterWatch { failures }) => feed.cluster_failures.set(failures),
                Some(event) => feed.dispatch(&event),
                None => {}
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |close: CloseEvent| {
            // An ended feed (the user signed out here) stays ended: marking it reconnecting
            // would revive it, and its retry would meet the ended session's 401s.
            if !feed.active() {
                return;
            }
            feed.state.set(LiveState::Reconnecting);
            match close.code() {
                // The session ended (signed out here or elsewhere): nothing to reconnect or
                // refetch; sign in again.
                CLOSE_SESSION_ENDED => sign_in_again(feed),
                // This browser holds the session's successor: carry on with it at once.
                CLOSE_SESSION_REPLACED => connect(feed, 0),
                _ => {
                    let opened = opened.get();
                    // A refused socket may mean the session ended meanwhile.
                    leptos::task::spawn_local(async move {
                        if !opened && signed_in().await == Some(false) {
                            sign_in_again(feed);
                        } else {
                            // A socket that opened and later dropped starts the backoff afresh.
                            retry(feed, if opened { 0 } else { failures });
                        }
                    });
                }
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The handlers live as long as the socket, which the browser keeps until it closes.
        on_open.forget();
        on_message.forget();
        on_close.forget();
    }
}

/// Says, on every page, that statuses may be out of date while the cluster's watches fail,
/// and why: what a user would otherwise take for an endless spinner.
#[component]
pub fn ClusterWatchBanner() -> impl IntoView {
    let failures = move || {
        use_live_feed()
            .map(|feed| feed.cluster_failures.get())
            .unwrap_or_default()
    };
    move || {
        let failures = failures();
        (!failures.is_empty()).then(|| {
            view! {
                <div class="banner banner-warning" role="alert">
                    <p>"Live status from the cluster has stopped: what is shown may be out of date."</p>
                    <ul>{failures.into_iter().map(|failure| view! { <li>{failure}</li> }).collect_view()}</ul>
                </div>
            }
        })
    }
}
