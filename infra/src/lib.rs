//! Local tooling: the embedded dev server (`rappel-dev`), admin and rendering tools, and the
//! Lambda benchmark harness (`rappel-lambda-bench`).

pub mod admin;
pub mod bench;
pub mod dev;
pub mod render;
