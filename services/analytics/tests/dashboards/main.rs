//! The analytics service as a process, fed events through a real broker: the figures, the
//! filters, drill-downs and exports, strict parameters, dead letters, and a rebuild from
//! PostgreSQL after a restart that gives the same answers.

mod dead_letters;
mod figures;
mod harness;
mod parameters;
mod scenario;
