//! Benchmarks the Lambda functions' release binaries through a local Runtime API (see
//! `infra/lambda-bench/src/lib.rs` and `docs/PERFORMANCE.md`).

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match rappel_lambda_bench::parse_args(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("rappel-lambda-bench: {e}\n{}", rappel_lambda_bench::USAGE);
            std::process::exit(2);
        }
    };
    match rappel_lambda_bench::run(&options).await {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("rappel-lambda-bench: {e}");
            std::process::exit(1);
        }
    }
}
