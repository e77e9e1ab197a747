//! `rappel-admin`: clinic and API-key administration, local AWS provisioning. See `--help`.

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", rappel_admin::USAGE);
        return;
    }
    let result = match rappel_admin::parse(&args) {
        Ok(command) => rappel_admin::run(command).await,
        Err(e) => Err(format!("{e}\n\n{}", rappel_admin::USAGE)),
    };
    match result {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("rappel-admin: {e}");
            std::process::exit(2);
        }
    }
}
