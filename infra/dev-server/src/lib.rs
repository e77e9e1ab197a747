//! Rappel on one machine: the embedded dev server (`rappel-dev`), which mounts the functions'
//! own routers over SQLite, an outbox and an in-process scheduler, and the renderer
//! (`rappel-render`) that writes every message and page state to files for review.
//! Nothing here links the AWS SDK.

pub mod render;
pub mod server;
