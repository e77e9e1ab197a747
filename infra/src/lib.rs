//! Local tooling: the embedded dev server (`rappel-dev`).

pub mod dev;
