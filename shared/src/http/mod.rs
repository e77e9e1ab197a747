//! The HTTP edge: one router per function. The Lambdas and the dev server mount the very same routers.

pub mod body;
pub mod emr;
pub mod error;
pub mod patient;

pub use error::ApiError;
