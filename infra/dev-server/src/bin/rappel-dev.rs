//! `rappel-dev`: Rappel on the embedded defaults. See docs/BEHAVIOUR.md §7 and the README.

/// mimalloc rather than glibc's allocator: `malloc`, `free` and their consolidation were 7 % of
/// the CPU of a save under load (docs/PERFORMANCE.md, item 26).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match rappel_dev::server::DevConfig::from_env() {
        Ok(config) => rappel_dev::server::run(config).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("rappel-dev: {e}");
        std::process::exit(1);
    }
}
