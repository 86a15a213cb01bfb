//! The unit tests' harness: a state machine over a fresh redb file, and commands to feed it.

#![allow(clippy::unwrap_used)]

use super::CommandError;
use crate::store::batch::StateMachine;
use crate::store::command::{
    Actor, Applied, COMMAND_FORMAT, Command, Envelope, NewFeature, NewOption,
};
use crate::store::database::{self, Backend};
use crate::store::records::{EnvironmentSettingsRecord, StoredFeatureKind, StoredValue};

pub struct Harness {
    pub machine: StateMachine,
    _dir: tempfile::TempDir,
}

pub fn envelope(command: Command) -> Envelope {
    Envelope {
        format: COMMAND_FORMAT,
        actor: Actor::System,
        request_id: "test".into(),
        origin: Default::default(),
        timestamp: 1_700_000_000_000,
        command,
    }
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = database::open(&dir.path().join("state.redb"), &Backend::default()).unwrap();
        let machine = StateMachine::new(std::sync::Arc::new(db), Backend::default()).unwrap();
        Self { machine, _dir: dir }
    }

    /// The state machine and the directory it lives in (removed when dropped).
    pub fn into_parts(self) -> (StateMachine, tempfile::TempDir) {
        (self.machine, self._dir)
    }

    /// An initialised instance.
    pub fn initialised() -> Self {
        let mut h = Self::new();
        h.ok(Command::Initialize {
            organisation_name: "default".into(),
            instance_seed: [7; 16],
            admin_token: None,
            setup: None,
        });
        h
    }

    /// Applies commands as one batch.
    pub fn batch(&mut self, commands: Vec<Command>) -> Vec<Result<Applied, CommandError>> {
        let mut batch = self.machine.begin().unwrap();
        let answers = commands
            .into_iter()
            .map(|c| batch.apply(&envelope(c), |_, _| Ok(())).unwrap())
            .collect();
        batch.commit().unwrap();
        answers
    }

    pub fn run(&mut self, command: Command) -> Result<Applied, CommandError> {
        self.batch(vec![command]).remove(0)
    }

    pub fn ok(&mut self, command: Command) -> Applied {
        let label = format!("{command:?}");
        self.run(command)
            .unwrap_or_else(|e| panic!("{label} was refused: {e}"))
    }

    /// Asserts a refusal that changes nothing but the applied index.
    pub fn refused(&mut self, command: Command) -> CommandError {
        let before = self.machine.catalog().clone();
        let error = self.run(command).unwrap_err();
        let after = self.machine.catalog();
        assert_eq!(after.meta.last_applied, before.meta.last_applied + 1);
        assert_eq!(after.meta.counters, before.meta.counters);
        assert_eq!(after.projects, before.projects);
        assert_eq!(after.environments, before.environments);
        assert_eq!(after.features, before.features);
        assert_eq!(after.segments, before.segments);
        assert_eq!(after.states, before.states);
        assert_eq!(after.server_keys, before.server_keys);
        error
    }

    pub fn created(&mut self, command: Command) -> u32 {
        match self.ok(command) {
            Applied::Created { id } => id,
            other => panic!("expected Created, got {other:?}"),
        }
    }

    /// A project with one environment and one multivariate feature: (project, env, feature).
    pub fn project(&mut self, name: &str) -> (u32, u32, u32) {
        let project = self.created(Command::CreateProject {
            name: name.into(),
            hide_disabled_flags: false,
        });
        let env = self.created(Command::CreateEnvironment {
            project_id: project,
            name: "Production".into(),
            client_key: format!("key-{name}-production"),
            settings: EnvironmentSettingsRecord::default(),
        });
        let feature = self.created(feature(project, "banner"));
        (project, env, feature)
    }
}

pub fn feature(project_id: u32, name: &str) -> Command {
    Command::CreateFeature(NewFeature {
        project_id,
        name: name.into(),
        kind: StoredFeatureKind::Multivariate,
        description: None,
        initial_value: StoredValue::String("control".into()),
        default_enabled: false,
        server_key_only: false,
        options: vec![NewOption {
            value: StoredValue::String("a".into()),
            key: None,
            default_weight: 30.0,
        }],
    })
}
