//! The simulated cluster's objects: kept in memory, numbered by one resourceVersion counter
//! as etcd does, and written to a file in the data directory after every change so they
//! survive a restart.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::{
    collections::{BTreeMap, VecDeque},
    io,
    path::{Path, PathBuf},
};

/// Where an object lives: resource (`virtualmachines.kubevirt.io`, `namespaces`), namespace
/// (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    resource_version: u64,
    objects: Vec<(Key, Value)>,
}

/// One change, as watches replay and stream it.
#[derive(Clone, Debug)]
pub struct Event {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub resource_version: u64,
    pub key: Key,
    pub object: Value,
    /// For MODIFIED, the labels the object had before, so a watch with a label selector
    /// can tell an object that entered or left it.
    pub previous_labels: Option<Value>,
}

pub struct Store {
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
    file: Option<PathBuf>,
    /// The latest changes, oldest first; a watch from before the oldest gets 410 Gone.
    history: VecDeque<Event>,
    history_limit: usize,
    /// Live changes for open watches.
    pub events: tokio::sync::broadcast::Sender<Event>,
}

impl Store {
    /// Loads the store saved in `file` (made owner-only), or starts empty; `None` keeps it in
    /// memory only.
    pub fn open(file: Option<&Path>, history_limit: usize) -> io::Result<Self> {
        if let Some(file) = file {
            crate::files::restrict(file)?;
        }
        let saved: Saved = match file.map(std::fs::read) {
            Some(Ok(bytes)) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            Some(Err(error)) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => Saved::default(),
        };
        Ok(Store {
            objects: saved.objects.into_iter().collect(),
            resource_version: saved.resource_version,
            file: file.map(Path::to_path_buf),
            history: VecDeque::new(),
            history_limit,
            events: tokio::sync::broadcast::channel(1024).0,
        })
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// The next resourceVersion, for a change about to be stored.
    pub fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// The keys of every object.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.objects.keys()
    }

    /// Objects of `resource`, in `namespace` when given, ordered by namespace and name.
    pub fn list<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.objects.iter().filter(move |(key, _)| {
            key.resource == resource && namespace.is_none_or(|ns| key.namespace == ns)
        })
    }

    /// Stores `object` (whose resourceVersion is the current one) and announces it.
    pub fn put(&mut self, key: Key, object: Value) -> io::Result<()> {
        let previous = self.objects.insert(key.clone(), object.clone());
        let (kind, previous_labels) = match previous {
            Some(previous) => (
                "MODIFIED",
                Some(
                    previous
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(Value::Null),
                ),
            ),
            None => ("ADDED", None),
        };
        self.record(kind, key, object, previous_labels);
        self.save()
    }

    /// Removes the object at `key`, announced in its last state `last`.
    pub fn remove_as(&mut self, key: &Key, last: Value) -> io::Result<Option<Value>> {
        self.objects.insert(key.clone(), last);
        self.remove(key)
    }

    pub fn remove(&mut self, key: &Key) -> io::Result<Option<Value>> {
        let removed = self.objects.remove(key);
        if let Some(object) = &removed {
            let mut object = object.clone();
            object["metadata"]["resourceVersion"] =
                Value::String(self.resource_version.to_string());
            self.record("DELETED", key.clone(), object, None);
        }
        self.save()?;
        Ok(removed)
    }

    fn record(
        &mut self,
        kind: &'static str,
        key: Key,
        object: Value,
        previous_labels: Option<Value>,
    ) {
        let event = Event {
            kind,
            resource_version: self.resource_version,
            key,
            object,
            previous_labels,
        };
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No receiver means no open watch; nothing to do.
        let _ = self.events.send(event);
    }

    /// Whether every change after `resource_version` is still kept.
    pub fn remembers(&self, resource_version: u64) -> bool {
        resource_version >= self.resource_version
            || self
                .history
                .front()
                .is_some_and(|oldest| resource_version + 1 >= oldest.resource_version)
    }

    /// The changes after `resource_version`, or `None` when they are no longer all kept.
    pub fn changes_since(&self, resource_version: u64) -> Option<Vec<Event>> {
        if resource_version >= self.resource_version {
            return Some(Vec::new());
        }
        if !self.remembers(resource_version) {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|event| event.resource_version > resource_version)
                .cloned()
                .collect(),
        )
    }

    /// Writes the whole store to a new owner-only file and renames it over the old one, so a
    /// crash leaves either the old or the new state.
    fn save(&self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let saved = Saved {
            resource_version: self.resource_version,
            objects: self
                .objects
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        };
        crate::files::replace(file, &serde_json::to_vec(&saved).map_err(io::Error::other)?)
    }
}
