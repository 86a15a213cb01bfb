//! Replay: a recorded stream of thousands of commands, applied to two fresh stores in
//! different batch sizes, leaves byte-identical tables.

#![allow(clippy::unwrap_used)]

use super::harness::{Harness, envelope, feature};
use crate::store::command::{
    Command, Envelope, SegmentOverrideChange, SettingsPatch, StatePatch, TraitWrite,
};
use crate::store::database;
use crate::store::records::{EnvironmentSettingsRecord, RuleRecord, StoredRuleKind, StoredValue};

/// A small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
    fn id(&mut self, max: u64) -> u32 {
        u32::try_from(self.below(max) + 1).unwrap()
    }
}

/// Commands of every kind over a few projects; many are refused (unknown ids, clashes).
fn stream(count: usize, seed: u64) -> Vec<Command> {
    let mut r = Random(seed | 1);
    let mut commands = Vec::with_capacity(count);
    commands.push(Command::Initialize {
        organisation_name: "default".into(),
        instance_seed: [3; 16],
        admin_token: None,
        setup: None,
    });
    for i in 0..count {
        let command = match r.below(20) {
            0 => Command::CreateProject {
                name: format!("project {}", r.below(8)),
                hide_disabled_flags: r.below(2) == 0,
            },
            1 => Command::CreateEnvironment {
                project_id: r.id(8),
                name: format!("env {}", r.below(6)),
                client_key: format!("client-key-{}", r.below(40)),
                settings: EnvironmentSettingsRecord::default(),
            },
            2 | 3 => feature(r.id(8), &format!("flag{}", r.below(30))),
            4 => Command::CreateSegment {
                project_id: r.id(8),
                name: format!("segment {}", r.below(20)),
                description: None,
                rules: vec![RuleRecord {
                    kind: StoredRuleKind::All,
                    conditions: Vec::new(),
                    rules: Vec::new(),
                }],
            },
            5 | 6 => Command::SetFeatureState {
                environment_id: r.id(20),
                feature_id: r.id(60),
                expected_revision: None,
                patch: StatePatch {
                    enabled: Some(r.below(2) == 0),
                    value: Some(StoredValue::Integer(i64::try_from(i).unwrap())),
                    variants: None,
                },
            },
            7 => Command::SetSegmentOverride(SegmentOverrideChange {
                environment_id: r.id(20),
                feature_id: r.id(60),
                segment_id: r.id(30),
                priority: (r.below(2) == 0).then(|| u32::try_from(r.below(3)).unwrap()),
                expected_revision: None,
                patch: StatePatch::default(),
            }),
            8..=12 => Command::Identify {
                environment_id: r.id(20),
                identifier: format!("user-{}", r.below(300)),
                traits: (0..r.below(4))
                    .map(|t| TraitWrite {
                        key: format!("t{t}"),
                        value: (r.below(5) != 0)
                            .then(|| StoredValue::Integer(i64::try_from(r.below(100)).unwrap())),
                    })
                    .collect(),
                max_traits: 3,
            },
            13 => Command::DeleteIdentity {
                environment_id: r.id(20),
                identifier: format!("user-{}", r.below(300)),
            },
            14 => Command::UpdateEnvironment {
                id: r.id(20),
                expected_revision: (r.below(2) == 0).then(|| r.below(10)),
                name: None,
                settings: SettingsPatch {
                    hide_sensitive_data: Some(r.below(2) == 0),
                    ..SettingsPatch::default()
                },
            },
            15 => Command::DeleteFeature { id: r.id(60) },
            16 if r.below(10) == 0 => Command::DeleteEnvironment { id: r.id(20) },
            17 => Command::PurgeEnvironment {
                environment_id: r.id(20),
                max_rows: 7,
            },
            18 => Command::DeleteSegment { id: r.id(30) },
            _ => Command::SetIdentityOverride {
                environment_id: r.id(20),
                feature_id: r.id(60),
                identifier: format!("user-{}", r.below(300)),
                patch: StatePatch {
                    enabled: Some(true),
                    ..StatePatch::default()
                },
            },
        };
        commands.push(command);
    }
    commands
}

fn apply_in_batches(h: &mut Harness, envelopes: &[Envelope], sizes: &mut Random, max: u64) {
    let mut rest = envelopes;
    while !rest.is_empty() {
        let take = usize::try_from(sizes.below(max) + 1)
            .unwrap()
            .min(rest.len());
        let (now, later) = rest.split_at(take);
        let mut batch = h.machine.begin().unwrap();
        for e in now {
            let _answer = batch.apply(e, |_, _| Ok(())).unwrap();
        }
        batch.commit().unwrap();
        rest = later;
    }
}

#[test]
fn a_replayed_stream_gives_byte_identical_tables() {
    let commands = stream(3000, 0x5eed);
    // Recorded as a node would ship them: postcard bytes, decoded on the other side.
    let recorded: Vec<Vec<u8>> = commands
        .into_iter()
        .map(|c| postcard::to_stdvec(&envelope(c)).unwrap())
        .collect();
    let envelopes: Vec<Envelope> = recorded
        .iter()
        .map(|bytes| postcard::from_bytes(bytes).unwrap())
        .collect();
    let mut one = Harness::new();
    apply_in_batches(&mut one, &envelopes, &mut Random(1), 1);
    let mut other = Harness::new();
    apply_in_batches(&mut other, &envelopes, &mut Random(99), 64);

    let a = database::dump(one.machine.database()).unwrap();
    let b = database::dump(other.machine.database()).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the two stores differ");
    let catalog = one.machine.catalog();
    assert_eq!(catalog.meta.last_applied, 3001);
    // The stream did real work, not only refusals.
    assert!(
        catalog.projects.len() >= 5,
        "{} projects",
        catalog.projects.len()
    );
    assert!(
        catalog.features.len() >= 20,
        "{} features",
        catalog.features.len()
    );
    // Re-applying every entry at its own index (a replayed log) changes nothing at all.
    let mut batch = one.machine.begin().unwrap();
    for (position, envelope) in envelopes.iter().enumerate() {
        let index = u64::try_from(position).unwrap() + 1;
        let answer = batch.apply_at(index, envelope, |_, _| Ok(())).unwrap();
        assert!(answer.is_err(), "entry {index} applied twice");
    }
    batch.commit().unwrap();
    assert!(
        database::dump(one.machine.database()).unwrap() == a,
        "a replay changed the tables"
    );
    let identities = a.iter().filter(|(t, _, _)| *t == "identities").count();
    let traits = a.iter().filter(|(t, _, _)| *t == "traits").count();
    assert!(
        identities > 100 && traits > 100,
        "{identities} identities, {traits} traits"
    );
}

/// The replay stream as log entries of a Raft log: postcard envelopes at indexes 1…n, with a
/// blank entry (a new leader's) every 100.
fn log_items(commands: Vec<Command>) -> Vec<burgee_raft::Item> {
    let mut items = Vec::new();
    let mut index = 0;
    for command in commands {
        index += 1;
        if index % 100 == 0 {
            items.push(burgee_raft::Item {
                index,
                command: None,
            });
            index += 1;
        }
        items.push(burgee_raft::Item {
            index,
            command: Some(postcard::to_stdvec(&vec![envelope(command)]).unwrap()),
        });
    }
    items
}

#[test]
fn the_store_as_a_raft_state_machine_applies_once_and_snapshots_whole() {
    use burgee_raft::{Machine as _, RaftMeta};

    use crate::store::replicated::{Answer, Replicated};

    let items = log_items(stream(2000, 0xfeed));
    let (machine, leader_dir) = Harness::new().into_parts();
    let leader = Replicated::without_views(machine, leader_dir.path().join("state.redb"));
    for (n, chunk) in items.chunks(37).enumerate() {
        let meta =
            RaftMeta::adopted(1, &format!("http://node-{n}"), chunk.last().unwrap().index).unwrap();
        let answers = leader.apply(chunk, &meta).unwrap();
        assert_eq!(answers.len(), chunk.len());
        for (item, answer) in chunk.iter().zip(&answers) {
            if item.command.is_none() {
                assert!(answer.is_empty());
            } else {
                let _: Answer = postcard::from_bytes(answer).unwrap();
            }
        }
        // Raft's state is stored with the batch it describes.
        assert_eq!(leader.raft_meta().unwrap(), meta);
    }
    let last = items.last().unwrap().index;
    // The store counts commands; Raft's own entries only move Raft's position.
    let commands = items.iter().filter(|i| i.command.is_some()).count() as u64;
    assert_eq!(
        leader
            .with_machine(|m| m.catalog().meta.last_applied)
            .unwrap(),
        commands
    );
    let before = leader
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap();
    // A replayed entry (after a crash) is never applied twice.
    let later = RaftMeta::adopted(1, "http://later", last).unwrap();
    let again = leader.apply(&items[..50], &later).unwrap();
    for answer in again.iter().filter(|a| !a.is_empty()) {
        let answer: Answer = postcard::from_bytes(answer).unwrap();
        assert!(answer.is_err());
    }
    let after: Vec<_> = leader
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap()
        .into_iter()
        .filter(|(_, key, _)| key != "raft")
        .collect();
    let before_without_raft: Vec<_> = before
        .iter()
        .filter(|(_, key, _)| key != "raft")
        .cloned()
        .collect();
    assert!(after == before_without_raft, "a replay changed the state");

    // Its snapshot, streamed through a file, installs byte-identical on a fresh node.
    let file = tempfile::tempfile().unwrap();
    let mut writer = std::io::BufWriter::new(file);
    let meta = leader.write_snapshot(&mut writer).unwrap();
    assert_eq!(meta, later);
    let mut file = writer.into_inner().unwrap();
    std::io::Seek::rewind(&mut file).unwrap();
    let (machine, follower_dir) = Harness::initialised().into_parts();
    let follower = Replicated::without_views(machine, follower_dir.path().join("state.redb"));
    follower
        .install_snapshot(&mut std::io::BufReader::new(&mut file), &meta)
        .unwrap();
    let leader_dump = leader
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap();
    let follower_dump = follower
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap();
    assert_eq!(leader_dump.len(), follower_dump.len());
    assert!(
        leader_dump == follower_dump,
        "the installed snapshot differs"
    );
    assert_eq!(
        follower
            .with_machine(|m| m.catalog().meta.last_applied)
            .unwrap(),
        commands
    );
    assert!(
        follower_dump
            .iter()
            .filter(|(t, _, _)| *t == "identities")
            .count()
            > 100
    );

    // A truncated snapshot is refused and leaves the follower as it was.
    std::io::Seek::rewind(&mut file).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let refused = follower.install_snapshot(&mut &cut[..], &RaftMeta(b"x".to_vec()));
    assert!(refused.is_err());
    let unchanged = follower
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap();
    assert!(
        unchanged == follower_dump,
        "a refused snapshot changed the follower"
    );
}
