//! The embedded tier's backend: fleet state in this process's memory, under the same key names
//! as in Redis.
//!
//! One `std::sync::Mutex` around a map from key to entry, never held across an await. Time comes
//! from the clock given at construction. Nothing outlives the process, which is the point: in the
//! embedded tier one worker owns one database, and an OS file lock (not this crate) keeps a second
//! one out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use token_bucket::clock::Clock;

use crate::backend::{CALL_COUNTS_KEEP_MINUTES, INCIDENTS_KEPT, RawLease};
use crate::state::{Heartbeat, Incident, PauseFlag};

#[derive(Debug)]
enum Entry {
    Lease(RawLease),
    Fencing(u64),
    Heartbeats(BTreeMap<String, Heartbeat>),
    Pause(PauseFlag),
    Calls {
        minute: i64,
        counts: BTreeMap<String, u64>,
    },
    Incidents(VecDeque<Incident>),
}

#[derive(Debug)]
pub(crate) struct MemoryBackend {
    clock: Arc<dyn Clock>,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl MemoryBackend {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> MemoryBackend {
        MemoryBackend {
            clock,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written (every update is a
        // single insert or field store), so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn acquire(
        &self,
        lease_key: &str,
        fencing_key: &str,
        ttl_ms: i64,
        token: &str,
        instance: &str,
    ) -> Option<(u64, i64)> {
        let now_ms = self.clock.now_ms();
        let mut entries = self.entries();
        if let Some(Entry::Lease(lease)) = entries.get(lease_key)
            && lease.expires_at_ms > now_ms
        {
            return None;
        }
        let fencing = match entries.get(fencing_key) {
            Some(Entry::Fencing(fencing)) => fencing + 1,
            _ => 1,
        };
        entries.insert(fencing_key.to_owned(), Entry::Fencing(fencing));
        let expires_at_ms = now_ms + ttl_ms;
        entries.insert(
            lease_key.to_owned(),
            Entry::Lease(RawLease {
                token: token.to_owned(),
                instance: instance.to_owned(),
                fencing,
                expires_at_ms,
            }),
        );
        Some((fencing, expires_at_ms))
    }

    pub(crate) fn raise_fencing(&self, fencing_key: &str, at_least: u64) -> u64 {
        let mut entries = self.entries();
        let current = match entries.get(fencing_key) {
            Some(Entry::Fencing(fencing)) => *fencing,
            _ => 0,
        };
        let raised = current.max(at_least);
        entries.insert(fencing_key.to_owned(), Entry::Fencing(raised));
        raised
    }

    pub(crate) fn renew(&self, lease_key: &str, token: &str, ttl_ms: i64) -> Option<i64> {
        let now_ms = self.clock.now_ms();
        let mut entries = self.entries();
        let Some(Entry::Lease(lease)) = entries.get_mut(lease_key) else {
            return None;
        };
        if lease.token != token || lease.expires_at_ms <= now_ms {
            return None;
        }
        lease.expires_at_ms = now_ms + ttl_ms;
        Some(lease.expires_at_ms)
    }

    pub(crate) fn release(&self, lease_key: &str, token: &str) -> bool {
        let mut entries = self.entries();
        let owned =
            matches!(entries.get(lease_key), Some(Entry::Lease(lease)) if lease.token == token);
        if owned {
            entries.remove(lease_key);
        }
        owned
    }

    pub(crate) fn read_lease(&self, lease_key: &str) -> Option<RawLease> {
        match self.entries().get(lease_key) {
            Some(Entry::Lease(lease)) => Some(lease.clone()),
            _ => None,
        }
    }

    pub(crate) fn put_heartbeat(&self, key: &str, heartbeat: Heartbeat) {
        let mut entries = self.entries();
        let entry = entries
            .entry(key.to_owned())
            .or_insert_with(|| Entry::Heartbeats(BTreeMap::new()));
        if let Entry::Heartbeats(heartbeats) = entry {
            heartbeats.insert(heartbeat.task.clone(), heartbeat);
        }
    }

    pub(crate) fn remove_heartbeat(&self, key: &str, task: &str) {
        if let Some(Entry::Heartbeats(heartbeats)) = self.entries().get_mut(key) {
            heartbeats.remove(task);
        }
    }

    pub(crate) fn heartbeats(&self, key: &str) -> Vec<Heartbeat> {
        match self.entries().get(key) {
            Some(Entry::Heartbeats(heartbeats)) => heartbeats.values().cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn set_pause(&self, key: &str, flag: PauseFlag) {
        self.entries().insert(key.to_owned(), Entry::Pause(flag));
    }

    pub(crate) fn clear_pause(&self, key: &str) {
        self.entries().remove(key);
    }

    pub(crate) fn pause(&self, key: &str) -> Option<PauseFlag> {
        match self.entries().get(key) {
            Some(Entry::Pause(flag)) => Some(flag.clone()),
            _ => None,
        }
    }

    pub(crate) fn record_call(&self, key: &str, minute: i64, client: &str) {
        let mut entries = self.entries();
        // Redis lets old minutes expire; here they are dropped on the next write.
        entries.retain(|_, entry| {
            !matches!(entry, Entry::Calls { minute: old, .. } if *old <= minute - CALL_COUNTS_KEEP_MINUTES)
        });
        let entry = entries
            .entry(key.to_owned())
            .or_insert_with(|| Entry::Calls {
                minute,
                counts: BTreeMap::new(),
            });
        if let Entry::Calls { counts, .. } = entry {
            *counts.entry(client.to_owned()).or_insert(0) += 1;
        }
    }

    pub(crate) fn call_counts(&self, keys: &[String]) -> Vec<BTreeMap<String, u64>> {
        let entries = self.entries();
        keys.iter()
            .map(|key| match entries.get(key) {
                Some(Entry::Calls { counts, .. }) => counts.clone(),
                _ => BTreeMap::new(),
            })
            .collect()
    }

    pub(crate) fn push_incident(&self, key: &str, incident: Incident) {
        let mut entries = self.entries();
        let entry = entries
            .entry(key.to_owned())
            .or_insert_with(|| Entry::Incidents(VecDeque::new()));
        if let Entry::Incidents(incidents) = entry {
            incidents.push_front(incident);
            incidents.truncate(INCIDENTS_KEPT);
        }
    }

    pub(crate) fn incidents(&self, key: &str, limit: usize) -> Vec<Incident> {
        match self.entries().get(key) {
            Some(Entry::Incidents(incidents)) => incidents.iter().take(limit).cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn keys_starting_with(&self, start: &str) -> Vec<String> {
        self.entries()
            .keys()
            .filter(|key| key.starts_with(start))
            .cloned()
            .collect()
    }

    pub(crate) fn delete(&self, keys: &[&str]) -> u64 {
        let mut entries = self.entries();
        keys.iter()
            .filter(|key| entries.remove(**key).is_some())
            .count() as u64
    }
}
