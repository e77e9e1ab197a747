//! `rappel-render [OUT_DIR]`: renders every message and patient-page state for review
//! (default `target/rendered`), with PNG screenshots when Chromium is installed.

#[tokio::main]
async fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/rendered".to_owned()));
    let result = async {
        let mut files = rappel_dev::render::render_messages(&out)?;
        files.extend(rappel_dev::render::render_pages(&out).await?);
        let shots = rappel_dev::render::screenshot_all(&files)?;
        Ok::<_, String>((files.len(), shots))
    }
    .await;
    match result {
        Ok((files, Some(shots))) => println!("{files} HTML files and {shots} screenshots in {}", out.display()),
        Ok((files, None)) => println!(
            "{files} HTML files in {} (install chromium for screenshots)",
            out.display()
        ),
        Err(e) => {
            eprintln!("rappel-render: {e}");
            std::process::exit(1);
        }
    }
}
