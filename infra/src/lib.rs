//! Local tooling: the embedded dev server (`rappel-dev`).

pub mod admin;
pub mod dev;
pub mod render;
