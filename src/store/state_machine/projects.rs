//! Projects: create, rename, delete (with everything in them).

use super::checks::check_name;
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::Applied;
use crate::store::records::ProjectRecord;

impl Tx<'_> {
    pub(super) fn create_project(
        &mut self,
        name: &str,
        hide_disabled_flags: bool,
    ) -> Result<Applied, Fault> {
        check_name("project", name)?;
        if self.work.projects.values().any(|p| p.name == name) {
            return Err(CommandError::Conflict(format!("a project named {name:?} exists")).into());
        }
        Ok(Applied::Created {
            id: self.insert_project(name, hide_disabled_flags)?,
        })
    }

    /// Adds a project record; the caller checked the name.
    pub(super) fn insert_project(
        &mut self,
        name: &str,
        hide_disabled_flags: bool,
    ) -> Result<u32, CommandError> {
        let organisation_id = self.work.organisation().map_or(1, |o| o.id);
        let id = Self::next_id(&mut self.work.meta.counters.project)?;
        self.record(Change::Project(
            id,
            Some(ProjectRecord {
                id,
                organisation_id,
                name: name.to_owned(),
                hide_disabled_flags,
                enable_realtime_updates: false,
                created_at: self.now,
            }),
        ));
        Ok(id)
    }

    pub(super) fn update_project(
        &mut self,
        id: u32,
        name: Option<&str>,
        hide_disabled_flags: Option<bool>,
    ) -> Result<Applied, Fault> {
        let mut project = self.project(id)?.clone();
        if let Some(name) = name {
            check_name("project", name)?;
            if self
                .work
                .projects
                .values()
                .any(|p| p.name == name && p.id != id)
            {
                return Err(
                    CommandError::Conflict(format!("a project named {name:?} exists")).into(),
                );
            }
            name.clone_into(&mut project.name);
        }
        if let Some(hide) = hide_disabled_flags {
            project.hide_disabled_flags = hide;
        }
        self.record(Change::Project(id, Some(project)));
        self.touch_project(id);
        Ok(Applied::Updated)
    }

    /// Removes the project's configuration at once; its environments' identity rows go in
    /// the background (see [`Tx::delete_environment`]).
    pub(super) fn delete_project(&mut self, id: u32) -> Result<Applied, Fault> {
        self.project(id)?;
        let environments: Vec<u32> = self.work.project_environments(id).map(|e| e.id).collect();
        for env in environments {
            self.delete_environment(env);
        }
        let features: Vec<u32> = self.work.project_features(id).map(|f| f.id).collect();
        for feature in features {
            self.forget_feature(feature);
        }
        let segments: Vec<u32> = self.work.project_segments(id).map(|s| s.id).collect();
        for segment in segments {
            self.record(Change::Segment(segment, None));
        }
        self.record(Change::Project(id, None));
        Ok(Applied::Deleted)
    }
}
