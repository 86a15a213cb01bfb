//! The cluster's command format: raised once every member reads the newer one, never lowered.

use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, COMMAND_FORMAT};

impl Tx<'_> {
    pub(super) fn raise_command_format(&mut self, to: u16) -> Result<Applied, Fault> {
        if to > COMMAND_FORMAT {
            return Err(CommandError::Invalid(format!(
                "command format {to} is newer than this node's {COMMAND_FORMAT}"
            ))
            .into());
        }
        if to <= self.work.active_command_format() {
            return Ok(Applied::Updated);
        }
        tracing::info!(
            format = to,
            "every member reads command format {to}: it is switched on"
        );
        self.record(Change::CommandFormat(to));
        Ok(Applied::Updated)
    }
}
