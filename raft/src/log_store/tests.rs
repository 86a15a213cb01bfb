#![allow(clippy::unwrap_used)] // tests fail loudly

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload};

use super::LogStore;
use crate::types::{Command, Entry, LogId, Vote};

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes
        .map(|index| Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(Command(format!("command {index}").into_bytes())),
        })
        .collect()
}

fn indexes(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id.index).collect()
}

#[tokio::test]
async fn appended_entries_are_read_back_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let mut store = LogStore::open(&path).unwrap();
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
        store.blocking_append(entries(1, 1..=5)).await.unwrap();
        let read = store.try_get_log_entries(2..4).await.unwrap();
        assert_eq!(indexes(&read), vec![2, 3]);
        assert_eq!(
            read[0].payload,
            EntryPayload::Normal(Command(b"command 2".to_vec()))
        );
        let mut reader = store.get_log_reader().await;
        assert_eq!(
            indexes(&reader.try_get_log_entries(4..).await.unwrap()),
            vec![4, 5]
        );
    }
    let mut store = LogStore::open(&path).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 5)));
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(
        indexes(&store.try_get_log_entries(..).await.unwrap()),
        vec![1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn truncation_drops_a_suffix_and_purging_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut store = LogStore::open(&path).unwrap();
    store.blocking_append(entries(1, 1..=10)).await.unwrap();
    // A new leader overwrites from index 7 on.
    store.truncate(log_id(1, 7)).await.unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(1, 6))
    );
    store.blocking_append(entries(2, 7..=8)).await.unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 8))
    );
    store.purge(log_id(1, 3)).await.unwrap();
    assert_eq!(
        indexes(&store.try_get_log_entries(..).await.unwrap()),
        vec![4, 5, 6, 7, 8]
    );
    // Everything purged: the last log id is the last purged one.
    store.purge(log_id(2, 8)).await.unwrap();
    drop(store);
    let mut store = LogStore::open(&path).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 8)));
    assert_eq!(state.last_log_id, Some(log_id(2, 8)));
    assert!(store.try_get_log_entries(..).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_vote_survives_a_reopen_and_the_committed_index_is_told_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let mut store = LogStore::open(&path).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), None);
        assert_eq!(store.read_committed().await.unwrap(), None);
        let mut vote = Vote::new(3, 2);
        vote.commit();
        store.save_vote(&vote).await.unwrap();
        store.save_committed(Some(log_id(3, 42))).await.unwrap();
    }
    let mut store = LogStore::open(&path).unwrap();
    let vote = store.read_vote().await.unwrap().unwrap();
    assert_eq!(
        (vote.leader_id().term, vote.leader_id().voted_for()),
        (3, Some(2))
    );
    assert!(vote.is_committed());
    // Not kept: after a restart the leader tells it again.
    assert_eq!(store.read_committed().await.unwrap(), None);
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let _first = LogStore::open(&path).unwrap();
    assert!(LogStore::open(&path).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(&dir.path().join("log")).unwrap();
    let before = store.commits();
    // Like openraft, one append per client write; they arrive while a commit runs.
    let mut appends = tokio::task::JoinSet::new();
    for index in 1..=400 {
        let mut store = store.clone();
        appends.spawn(async move { store.blocking_append(entries(1, index..=index)).await });
    }
    while let Some(appended) = appends.join_next().await {
        appended.unwrap().unwrap();
    }
    let commits = store.commits() - before;
    assert!(commits < 400, "400 appends took {commits} commits");
    let mut store = store;
    let read = store.try_get_log_entries(..).await.unwrap();
    assert_eq!(indexes(&read), (1..=400).collect::<Vec<_>>());
}

#[tokio::test]
async fn appended_entries_are_readable_before_their_commit_and_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut store = LogStore::open(&path).unwrap();
    store.blocking_append(entries(1, 1..=3)).await.unwrap();
    store.truncate(log_id(1, 2)).await.unwrap();
    store.blocking_append(entries(2, 2..=4)).await.unwrap();
    let read = store.try_get_log_entries(..).await.unwrap();
    assert_eq!(indexes(&read), vec![1, 2, 3, 4]);
    assert_eq!(read[1].log_id, log_id(2, 2), "the truncated entry is gone");
    drop(store);
    let mut store = LogStore::open(&path).unwrap();
    let read = store.try_get_log_entries(..).await.unwrap();
    assert_eq!(read[1].log_id, log_id(2, 2));
    assert_eq!(read.len(), 4);
}

/// Entries with payloads large enough to fill several (test-sized) segments.
fn big_entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes
        .map(|index| Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(Command(vec![index as u8; 1000])),
        })
        .collect()
}

fn segments(path: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn segments_roll_over_and_purging_and_truncating_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut store = LogStore::open(&path).unwrap();
    for chunk in 0..10 {
        store
            .blocking_append(big_entries(1, chunk * 5 + 1..=chunk * 5 + 5))
            .await
            .unwrap();
    }
    let before = segments(&path).len();
    assert!(before > 3, "{before} segments");
    store.purge(log_id(1, 30)).await.unwrap();
    let after = segments(&path).len();
    assert!(after < before, "purging removed no segment");
    store.truncate(log_id(1, 41)).await.unwrap();
    store
        .blocking_append(big_entries(2, 41..=42))
        .await
        .unwrap();
    drop(store);
    let mut store = LogStore::open(&path).unwrap();
    let read = store.try_get_log_entries(..).await.unwrap();
    assert_eq!(indexes(&read), (31..=42).collect::<Vec<_>>());
    assert_eq!(read.last().unwrap().log_id, log_id(2, 42));
    assert_eq!(
        read[0].payload,
        EntryPayload::Normal(Command(vec![31; 1000]))
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_damage_elsewhere_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let mut store = LogStore::open(&path).unwrap();
        store.blocking_append(entries(1, 1..=3)).await.unwrap();
    }
    let segment = path.join(&segments(&path)[0]);
    let whole = std::fs::read(&segment).unwrap();
    // A crash mid-write: half a record at the end.
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 6]);
    std::fs::write(&segment, &torn).unwrap();
    {
        let mut store = LogStore::open(&path).unwrap();
        assert_eq!(
            indexes(&store.try_get_log_entries(..).await.unwrap()),
            vec![1, 2, 3]
        );
        store.blocking_append(entries(1, 4..=4)).await.unwrap();
    }
    assert_eq!(
        indexes(
            &LogStore::open(&path)
                .unwrap()
                .try_get_log_entries(..)
                .await
                .unwrap()
        ),
        vec![1, 2, 3, 4]
    );
    // A flipped byte inside the first record of a segment that is not the last.
    let mut store = LogStore::open(&path).unwrap();
    store.blocking_append(big_entries(1, 5..=12)).await.unwrap();
    drop(store);
    let first = path.join(&segments(&path)[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[10] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    let error = LogStore::open(&path).err().unwrap().to_string();
    assert!(error.contains("checksum"), "{error}");
}

#[tokio::test]
async fn a_log_kept_in_redb_by_an_earlier_version_moves_into_segments() {
    use redb::{Database, TableDefinition};
    const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
    const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("raft-log.redb");
    {
        let db = Database::create(&old).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut log = txn.open_table(LOG).unwrap();
            for entry in entries(2, 4..=6) {
                let bytes = postcard::to_stdvec(&entry).unwrap();
                log.insert(entry.log_id.index, bytes.as_slice()).unwrap();
            }
            let mut state = txn.open_table(STATE).unwrap();
            let vote = postcard::to_stdvec(&Vote::new(2, 1)).unwrap();
            state.insert("vote", vote.as_slice()).unwrap();
            let purged = postcard::to_stdvec(&log_id(1, 3)).unwrap();
            state.insert("last_purged", purged.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut store = LogStore::open(&dir.path().join("log")).unwrap();
    assert!(!old.exists(), "the old file is gone once moved");
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(2, 6)));
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
    assert_eq!(
        indexes(&store.try_get_log_entries(..).await.unwrap()),
        vec![4, 5, 6]
    );
}

#[tokio::test]
async fn segments_grow_in_zeroed_steps_whose_zeros_end_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let mut store = LogStore::open(&path).unwrap();
        store.blocking_append(entries(1, 1..=3)).await.unwrap();
    }
    let segment = path.join(&segments(&path)[0]);
    let bytes = std::fs::read(&segment).unwrap();
    assert_eq!(bytes.len() % 1024, 0, "grown in whole steps");
    let records = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    assert!(records < bytes.len(), "a zeroed tail follows the records");
    // A record torn over the zeroed tail (its header written, its body not): the last write.
    let mut torn = bytes.clone();
    torn[records..records + 8].copy_from_slice(&bytes[..8]);
    std::fs::write(&segment, &torn).unwrap();
    {
        let mut store = LogStore::open(&path).unwrap();
        assert_eq!(
            indexes(&store.try_get_log_entries(..).await.unwrap()),
            vec![1, 2, 3]
        );
        for index in 4..=9 {
            store
                .blocking_append(big_entries(1, index..=index))
                .await
                .unwrap();
        }
    }
    assert!(segments(&path).len() > 1);
    // Data after the zeroed end of a segment that is not the last is damage.
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 0xFF;
    std::fs::write(&segment, &bytes).unwrap();
    let error = LogStore::open(&path).err().unwrap().to_string();
    assert!(error.contains("after the end of its records"), "{error}");
}
