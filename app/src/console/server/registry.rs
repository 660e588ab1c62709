//! The consoles open in this process: one viewer per console of a VM. A second viewer is
//! refused with the holder's name unless they take over, which tells the holder who did.

use crate::console::types::ConsoleKind;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};
use tokio::sync::oneshot;

/// A console: the VM's namespace and name, and the kind.
pub type ConsoleKey = (String, String, ConsoleKind);

struct Holder {
    seat: u64,
    name: String,
    /// Receives the name of whoever takes the console over.
    displace: oneshot::Sender<String>,
}

/// Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct Consoles {
    open: Arc<Mutex<HashMap<ConsoleKey, Holder>>>,
    seats: Arc<AtomicU64>,
}

/// What asking for a console came to.
pub enum Claim {
    Granted {
        seat: Seat,
        /// The name of the viewer taken over from, if any.
        displaced: Option<String>,
    },
    /// Held by the viewer with this name.
    InUse(String),
}

/// A held console, given back when dropped.
pub struct Seat {
    consoles: Consoles,
    key: ConsoleKey,
    id: u64,
    /// Resolves with the taker's name when someone takes the console over.
    pub taken_over: oneshot::Receiver<String>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Ok(mut open) = self.consoles.open.lock() {
            if open
                .get(&self.key)
                .is_some_and(|holder| holder.seat == self.id)
            {
                open.remove(&self.key);
            }
        }
    }
}

impl Consoles {
    /// Asks for `key` as `name`; `take_over` displaces whoever holds it.
    pub fn claim(&self, key: ConsoleKey, name: &str, take_over: bool) -> Claim {
        let Ok(mut open) = self.open.lock() else {
            return Claim::InUse(String::new());
        };
        let held = open.get(&key).filter(|holder| !holder.displace.is_closed());
        if let Some(holder) = held {
            if !take_over {
                return Claim::InUse(holder.name.clone());
            }
        }
        let displaced = held
            .is_some()
            .then(|| open.remove(&key))
            .flatten()
            .map(|holder| {
                // A holder that is just leaving does not need telling.
                let _ = holder.displace.send(name.to_owned());
                holder.name
            });
        let id = self.seats.fetch_add(1, Ordering::Relaxed);
        let (displace, taken_over) = oneshot::channel();
        open.insert(
            key.clone(),
            Holder {
                seat: id,
                name: name.to_owned(),
                displace,
            },
        );
        Claim::Granted {
            seat: Seat {
                consoles: self.clone(),
                key,
                id,
                taken_over,
            },
            displaced,
        }
    }

    /// Consoles held now.
    pub fn open_count(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ConsoleKey {
        ("team-a".to_owned(), "web-1".to_owned(), ConsoleKind::Vnc)
    }

    #[test]
    fn a_second_viewer_is_told_who_holds_it_and_a_take_over_tells_the_holder() {
        let consoles = Consoles::default();
        let Claim::Granted {
            seat: mut first, ..
        } = consoles.claim(key(), "ada", false)
        else {
            panic!("a free console is granted");
        };
        assert!(matches!(consoles.claim(key(), "bob", false), Claim::InUse(name) if name == "ada"));
        let Claim::Granted {
            seat: second,
            displaced,
        } = consoles.claim(key(), "bob", true)
        else {
            panic!("a take-over is granted");
        };
        assert_eq!(displaced.as_deref(), Some("ada"));
        assert_eq!(first.taken_over.try_recv().ok().as_deref(), Some("bob"));
        assert_eq!(consoles.open_count(), 1);
        drop(second);
        assert_eq!(consoles.open_count(), 0);
    }

    #[test]
    fn a_console_of_another_kind_or_vm_is_free_and_a_left_one_is_free_again() {
        let consoles = Consoles::default();
        let seat = consoles.claim(key(), "ada", false);
        let serial = ("team-a".to_owned(), "web-1".to_owned(), ConsoleKind::Serial);
        assert!(matches!(
            consoles.claim(serial, "bob", false),
            Claim::Granted { .. }
        ));
        drop(seat);
        assert!(matches!(
            consoles.claim(key(), "bob", false),
            Claim::Granted { .. }
        ));
    }
}
