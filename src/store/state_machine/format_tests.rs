//! Unit tests of command formats: a command of a newer format than this build reads is
//! refused, and one newer than the cluster's active format waits until it is switched on.

#![allow(clippy::unwrap_used)]

use super::CommandError;
use super::harness::{Harness, envelope};
use crate::store::command::{COMMAND_FORMAT, Command};

#[test]
fn a_command_from_a_newer_format_is_refused() {
    let mut h = Harness::initialised();
    let mut newer = envelope(Command::CreateProject {
        name: "Web".into(),
        hide_disabled_flags: false,
    });
    newer.format = COMMAND_FORMAT + 1;
    let mut batch = h.machine.begin().unwrap();
    let answer = batch.apply(&newer, |_, _| Ok(())).unwrap();
    assert!(matches!(answer, Err(CommandError::Invalid(_))));
}

#[test]
fn a_newer_command_waits_until_the_cluster_switches_its_format_on() {
    let mut h = Harness::initialised();
    let backup = || {
        envelope(Command::RecordEvent(
            crate::store::command::SecurityEvent::BackupTaken {
                node_id: 1,
                applied_index: 7,
            },
        ))
    };
    assert_eq!(backup().command.since(), 2);
    assert_eq!(h.machine.catalog().active_command_format(), 1);
    let mut batch = h.machine.begin().unwrap();
    let answer = batch.apply(&backup(), |_, _| Ok(())).unwrap();
    assert!(
        matches!(
            answer,
            Err(CommandError::UpgradeInProgress {
                needed: 2,
                active: 1
            })
        ),
        "{answer:?}"
    );
    let raised = batch
        .apply(
            &envelope(Command::RaiseCommandFormat { to: COMMAND_FORMAT }),
            |_, _| Ok(()),
        )
        .unwrap();
    assert!(raised.is_ok(), "{raised:?}");
    let answer = batch.apply(&backup(), |_, _| Ok(())).unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    // Never lowered, never past this build's format.
    let lower = batch
        .apply(&envelope(Command::RaiseCommandFormat { to: 1 }), |_, _| {
            Ok(())
        })
        .unwrap();
    assert!(lower.is_ok());
    let past = batch
        .apply(
            &envelope(Command::RaiseCommandFormat {
                to: COMMAND_FORMAT + 1,
            }),
            |_, _| Ok(()),
        )
        .unwrap();
    assert!(matches!(past, Err(CommandError::Invalid(_))), "{past:?}");
    batch.commit().unwrap();
    assert_eq!(h.machine.catalog().active_command_format(), COMMAND_FORMAT);
    // The switch is durable: a reopened store keeps it.
    let reloaded = crate::store::database::load(h.machine.database()).unwrap();
    assert_eq!(reloaded.active_command_format(), COMMAND_FORMAT);
}
