//! The dev server's pending schedules by name and by due time, in memory: the index of the rows
//! [`super::scheduler::EmbeddedScheduler`] keeps in SQLite.
//!
//! Why in memory: in SQLite, each new schedule went into three B-trees, two of them on random keys
//! (the hashed name and the due time). Each such insert changed a leaf page of its own, which the
//! commit logged and the checkpoint copied whole, and read it back from the file first once the
//! table outgrew the page cache: the schedule was about a quarter of a save's CPU on the dev
//! server. With the index here, the table is only ever appended to, by row number.
//!
//! The index holds about 200 bytes per pending schedule (its name twice, its due time, its row);
//! it is built from the table when the file is opened.
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Where a pending schedule is: its row in the table and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub row: i64,
    pub at: DateTime<Utc>,
}

/// Pending schedules by name, and in due order (then by name, as the table's index had them).
#[derive(Debug, Default)]
pub(crate) struct ScheduleIndex {
    by_name: HashMap<Arc<str>, Placed>,
    by_due: BTreeSet<(DateTime<Utc>, Arc<str>)>,
}

impl ScheduleIndex {
    /// Where the schedule named `name` is, if it is pending.
    pub fn get(&self, name: &str) -> Option<Placed> {
        self.by_name.get(name).copied()
    }

    /// Records `name` at `placed`, in place of whatever held that name; returns what did.
    pub fn put(&mut self, name: &str, placed: Placed) -> Option<Placed> {
        let replaced = self.remove(name);
        let name: Arc<str> = Arc::from(name);
        self.by_due.insert((placed.at, name.clone()));
        self.by_name.insert(name, placed);
        replaced
    }

    /// Forgets `name`; returns where it was.
    pub fn remove(&mut self, name: &str) -> Option<Placed> {
        let (name, placed) = self.by_name.remove_entry(name)?;
        self.by_due.remove(&(placed.at, name));
        Some(placed)
    }

    /// The earliest schedule due by `until` (by name among those due at the same time).
    pub fn first_due(&self, until: DateTime<Utc>) -> Option<(String, Placed)> {
        let (at, name) = self.by_due.first().filter(|(at, _)| *at <= until)?;
        let placed = self.by_name[name];
        debug_assert_eq!(placed.at, *at);
        Some((name.to_string(), placed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 10, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_first_due_is_the_earliest_then_by_name_and_only_once_due() {
        let mut index = ScheduleIndex::default();
        index.put("b", Placed { row: 1, at: at(9) });
        index.put("a", Placed { row: 2, at: at(9) });
        index.put("c", Placed { row: 3, at: at(8) });
        assert_eq!(index.first_due(at(7)), None);
        assert_eq!(index.first_due(at(8)).unwrap().0, "c");
        index.remove("c");
        assert_eq!(
            index.first_due(at(12)).unwrap(),
            ("a".to_owned(), Placed { row: 2, at: at(9) })
        );
    }

    #[test]
    fn a_put_replaces_the_name_everywhere() {
        let mut index = ScheduleIndex::default();
        index.put("a", Placed { row: 1, at: at(8) });
        let replaced = index.put("a", Placed { row: 2, at: at(10) });
        assert_eq!(replaced, Some(Placed { row: 1, at: at(8) }));
        assert_eq!((index.by_name.len(), index.by_due.len()), (1, 1));
        assert_eq!(index.first_due(at(9)), None, "the old due time is gone");
        assert_eq!(index.get("a"), Some(Placed { row: 2, at: at(10) }));
        assert_eq!(index.remove("a"), Some(Placed { row: 2, at: at(10) }));
        assert!(index.by_name.is_empty() && index.by_due.is_empty());
    }
}
