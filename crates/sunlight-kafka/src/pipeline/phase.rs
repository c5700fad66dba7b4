//! The phase of a pipeline instance: one explicit state machine instead of flags.
//!
//! ```text
//!                 assigned (no durable state, or nothing owned)
//!               +-----------------------------------------------+
//!               v                                               |
//!   start --> Running --assigned (durable state)--> Restoring --+
//!               |  ^                                   |   ^
//!               |  +-------------- restored -----------+   |
//!               |                                          |
//!               +--handover due--> HandingOver --assigned--+ (or back to Running)
//!
//!   any phase --stop--> Draining
//! ```
//!
//! - **Running**: records are decoded, admitted and evaluated; outputs flow.
//! - **Restoring**: a new assignment's snapshots must be restored (and positions
//!   moved) before any of its records is evaluated. A record that arrived with the
//!   assignment change is held (`Pipeline::held`) and evaluated afterwards unless
//!   its partition's position moved.
//! - **HandingOver**: an incremental (cooperative) assignment change with durable
//!   state: the state read so far is snapshotted before the switch, so leaving
//!   partitions take it along. No records are read meanwhile.
//! - **Draining**: shutdown; outstanding outputs are awaited (bounded), a last
//!   snapshot is written when everything is acknowledged, offsets are committed.
//!
//! Snapshots due on the interval are not a phase: they happen while Running, at a
//! barrier where every output is acknowledged (snapshots.rs).

use tracing::debug;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Reading and evaluating records.
    Running,
    /// Restoring a new assignment's state before evaluating its records.
    Restoring,
    /// Snapshotting before an incremental assignment change takes effect.
    HandingOver,
    /// Shutting down.
    Draining,
}

/// What moves an instance from one phase to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A new assignment starts; `restore` when durable state is on and partitions
    /// are owned.
    Assigned { restore: bool },
    /// An incremental assignment change needs a handover snapshot first.
    HandoverDue,
    /// The assignment's state is restored.
    Restored,
    /// Shutdown was asked for.
    Stop,
}

impl Phase {
    /// The phase after `step`, or `None` when `step` cannot happen in this phase.
    pub(super) fn after(self, step: Step) -> Option<Phase> {
        use Phase::*;
        match (self, step) {
            (Draining, _) => None,
            (_, Step::Stop) => Some(Draining),
            (Running | Restoring | HandingOver, Step::Assigned { restore: true }) => {
                Some(Restoring)
            }
            (Running | Restoring | HandingOver, Step::Assigned { restore: false }) => Some(Running),
            (Running, Step::HandoverDue) => Some(HandingOver),
            (Restoring, Step::Restored) => Some(Running),
            (HandingOver | Restoring, Step::HandoverDue)
            | (Running | HandingOver, Step::Restored) => None,
        }
    }

    /// Applies `step`. A step that cannot happen here is a bug: it is logged (and
    /// fails debug builds) and the phase stays as it was.
    pub(super) fn advance(&mut self, step: Step) {
        match self.after(step) {
            Some(next) => {
                if next != *self {
                    debug!(from = ?*self, to = ?next, ?step, "pipeline phase");
                }
                *self = next;
            }
            None => {
                debug_assert!(false, "no transition from {self:?} on {step:?}");
                tracing::error!(phase = ?*self, ?step, "ignored an impossible phase transition");
            }
        }
    }

    /// Whether records are evaluated in this phase (held ones too).
    pub(super) fn evaluates(self) -> bool {
        matches!(self, Phase::Running | Phase::Draining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Phase; 4] = [
        Phase::Running,
        Phase::Restoring,
        Phase::HandingOver,
        Phase::Draining,
    ];

    #[test]
    fn the_transitions_are_the_documented_ones() {
        let steps = [
            Step::Assigned { restore: true },
            Step::Assigned { restore: false },
            Step::HandoverDue,
            Step::Restored,
            Step::Stop,
        ];
        let table: Vec<(Phase, Step, Option<Phase>)> = ALL
            .iter()
            .flat_map(|p| steps.iter().map(move |s| (*p, *s, p.after(*s))))
            .collect();
        use Phase::*;
        let expected = [
            (
                Running,
                Some(Restoring),
                Some(Running),
                Some(HandingOver),
                None,
                Some(Draining),
            ),
            (
                Restoring,
                Some(Restoring),
                Some(Running),
                None,
                Some(Running),
                Some(Draining),
            ),
            (
                HandingOver,
                Some(Restoring),
                Some(Running),
                None,
                None,
                Some(Draining),
            ),
            (Draining, None, None, None, None, None),
        ];
        for (from, a_restore, a_plain, handover, restored, stop) in expected {
            let row: Vec<Option<Phase>> = table
                .iter()
                .filter(|(p, _, _)| *p == from)
                .map(|(_, _, to)| *to)
                .collect();
            assert_eq!(
                row,
                [a_restore, a_plain, handover, restored, stop],
                "from {from:?}"
            );
        }
    }

    #[test]
    fn only_running_and_draining_evaluate_records() {
        let evaluating: Vec<Phase> = ALL.into_iter().filter(|p| p.evaluates()).collect();
        assert_eq!(evaluating, [Phase::Running, Phase::Draining]);
    }

    #[test]
    fn an_impossible_step_leaves_the_phase_alone_in_release_builds() {
        if cfg!(debug_assertions) {
            let result = std::panic::catch_unwind(|| {
                let mut phase = Phase::Running;
                phase.advance(Step::Restored);
            });
            assert!(result.is_err(), "debug builds fail loudly");
        } else {
            let mut phase = Phase::Running;
            phase.advance(Step::Restored);
            assert_eq!(phase, Phase::Running);
        }
    }
}
