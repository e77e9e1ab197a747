//! Runs `rappel::domain::PHONE_SAMPLES` with the `regex` features the Lambda functions are built
//! with. `cargo test --workspace` cannot: its dev-dependencies (proptest and others) turn every
//! `regex` feature back on. `scripts/test.sh` builds this crate on its own, so only its
//! dependencies decide the features, as for `cargo lambda build -p on-save`.

fn main() {
    let disagreeing = rappel::domain::phone_samples_disagreeing();
    if disagreeing.is_empty() {
        println!(
            "phone-check: {} numbers read as expected",
            rappel::domain::PHONE_SAMPLES.len()
        );
    } else {
        eprintln!(
            "phone-check: the functions' libphonenumber disagrees:\n{}",
            disagreeing.join("\n")
        );
        std::process::exit(1);
    }
}
