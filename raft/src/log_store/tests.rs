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
    let path = dir.path().join("raft-log.redb");
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
    let path = dir.path().join("raft-log.redb");
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
async fn the_vote_and_the_committed_index_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft-log.redb");
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
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(3, 42)));
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft-log.redb");
    let _first = LogStore::open(&path).unwrap();
    assert!(LogStore::open(&path).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
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
    let path = dir.path().join("raft-log.redb");
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
