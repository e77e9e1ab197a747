//! Browser tests: the patient page in Debian's headless Chromium (through chromedriver) at phone
//! sizes, clicked like a patient would, in French and English. Screenshots are kept under
//! `target/browser-artifacts/`. `scripts/test.sh` installs `chromium` and `chromium-driver`.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{data_dir, DevServer};

/// A chromedriver on a free port; it and the Chromium it started are killed when dropped, even
/// when a failed assertion skipped the session's close.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    fn start(profile: PathBuf) -> Driver {
        let program = std::env::var("RAPPEL_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} ({e}): scripts/test.sh installs chromium-driver"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }

    async fn browser(&self) -> Client {
        self.browser_at(390, 844).await
    }

    /// A session emulating a phone `width` × `height` CSS pixels wide.
    async fn browser_at(&self, width: u32, height: u32) -> Client {
        let profile = &self.profile;
        // chromedriver is plain HTTP on loopback; the provider only has to be chosen, not used.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let binary = std::env::var("RAPPEL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--window-size={width},{height}"), "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "mobileEmulation": { "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "mobile": true, "touch": true } },
            }),
        );
        ClientBuilder::rustls()
            .expect("rustls client")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium outlives a killed chromedriver; its profile directory names it.
        let _ = Command::new("pkill").arg("-f").arg(self.profile.as_os_str()).status();
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
}

/// Page width and scroll width in CSS pixels: equal when nothing scrolls sideways.
async fn widths(client: &Client) -> (u64, u64) {
    let value = client
        .execute(
            "return [window.innerWidth, document.documentElement.scrollWidth];",
            vec![],
        )
        .await
        .unwrap();
    (value[0].as_u64().unwrap(), value[1].as_u64().unwrap())
}

async fn click_button(client: &Client, text: &str) {
    let button = client
        .find(Locator::XPath(&format!("//button[normalize-space()='{text}']")))
        .await
        .unwrap_or_else(|_| panic!("no button {text:?}"));
    button.click().await.unwrap();
}

/// Waits (for the navigation a click started) until some element shows `text`.
async fn wait_for_text(client: &Client, text: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&format!(
            "//p[contains(normalize-space(.), \"{text}\")]"
        )))
        .await
        .unwrap_or_else(|e| panic!("{text:?} never showed: {e}"));
}

/// Checks the type's instructions show under their heading, in paragraphs with their line
/// breaks, without scrolling sideways, and takes a screenshot of them.
async fn show_instructions(client: &Client, heading: &str, line: &str, name: &str) {
    let found = client
        .execute(
            "const s = document.querySelector('section.instructions');
             if (!s) return null;
             s.scrollIntoView();
             return [s.querySelector('h2').innerText, s.querySelectorAll('p').length,
                     s.querySelectorAll('br').length, s.innerText];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found[0], heading, "{found}");
    assert_eq!((found[1].as_u64(), found[2].as_u64()), (Some(2), Some(1)), "{found}");
    assert!(found[3].as_str().unwrap().contains(line), "{found}");
    let (width, scroll) = widths(client).await;
    assert!(scroll <= width, "horizontal scroll at {width}px: {scroll}");
    screenshot(client, name).await;
}

async fn body_text(client: &Client) -> String {
    client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

fn appointment(start: &str, email: &str, language: &str, modality: &str) -> serde_json::Value {
    json!({
        "revision": 1, "start": start, "duration_minutes": 30, "type_code": "SUIVI", "modality": modality,
        "telemedicine_url": "https://video.example.ca/salle/8",
        "professional": { "display_name": "Dre Marie Tremblay" },
        "location": { "name": "Clinique Centre", "address": "123 rue Principale, Montréal (Québec)" },
        "patient": { "first_name": "Julie", "last_name": "Roy", "email": email, "mobile": "514 555-0123", "language": language }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_confirms_cancels_and_checks_in_on_a_phone() {
    let dir = data_dir("browser");
    let server = DevServer::start(&dir);
    server.set_clock("2030-01-07T15:00:00Z").await;
    let (_, mut clinic) = server.get("/v1/clinic").await;
    clinic["allow_patient_cancellation"] = json!(true);
    clinic["allow_arrival_checkin"] = json!(true);
    server.put("/v1/clinic", &clinic).await;
    server
        .put(
            "/v1/appointment-types/SUIVI",
            &json!({"communications": "full", "questionnaire_url": "https://forms.example.ca/suivi",
                    "instructions": {
                        "fr": "Apportez votre carte d’assurance maladie et la liste de vos médicaments.\nÀ jeun dès minuit : ni nourriture ni boisson, sauf de l’eau.\n\nStationnement gratuit à l’arrière, entrée par la rue Saint-Urbain.",
                        "en": "Bring your health insurance card and the list of your medications.\nFast from midnight: no food or drink except water.\n\nFree parking at the back, entrance on Saint-Urbain Street."}}),
        )
        .await;
    let link = |view: serde_json::Value| view["patient_url"].as_str().unwrap().to_owned();
    // Tuesday 2030-01-08 14:00 local: within 48 h, so confirming is open.
    let confirm_fr = link(
        server
            .put(
                "/v1/appointments/B-FR",
                &appointment("2030-01-08T14:00:00-05:00", "fr@example.ca", "fr", "in_person"),
            )
            .await
            .1,
    );
    let confirm_en = link(
        server
            .put(
                "/v1/appointments/B-EN",
                &appointment("2030-01-08T15:00:00-05:00", "en@example.ca", "en", "telemedicine"),
            )
            .await
            .1,
    );
    let cancel = link(
        server
            .put(
                "/v1/appointments/B-CX",
                &appointment("2030-01-11T09:00:00-05:00", "cx@example.ca", "fr", "phone"),
            )
            .await
            .1,
    );
    let arrive = link(
        server
            .put(
                "/v1/appointments/B-AR",
                &appointment("2030-01-07T10:20:00-05:00", "ar@example.ca", "fr", "in_person"),
            )
            .await
            .1,
    );

    let driver = Driver::start(dir.join("chromium-profile"));
    let client = driver.browser().await;

    // French, at 390 px: nothing scrolls sideways; confirming leads to the confirmed state.
    client.goto(&confirm_fr).await.unwrap();
    assert_eq!(
        client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(),
        "Votre rendez-vous"
    );
    let (width, scroll) = widths(&client).await;
    assert_eq!(width, 390);
    assert!(scroll <= width, "horizontal scroll at {width}px: {scroll}");
    assert!(body_text(&client).await.contains("mardi 8 janvier 2030 à 14 h"));
    // Accessibility basics: a language, one h1, every button named, focus visible.
    let checks = client
        .execute(
            "const b = document.querySelector('button'); b.focus();
             return [document.documentElement.lang, document.querySelectorAll('h1').length,
                     [...document.querySelectorAll('button')].every(x => x.innerText.trim().length > 0),
                     getComputedStyle(b).outlineStyle];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checks, json!(["fr", 1, true, "solid"]));
    screenshot(&client, "fr-before-confirm").await;
    show_instructions(
        &client,
        "Consignes de la clinique",
        "À jeun dès minuit",
        "fr-instructions",
    )
    .await;
    click_button(&client, "Je confirme ma présence").await;
    wait_for_text(&client, "Vous avez confirmé votre présence").await;
    assert!(
        client
            .find(Locator::XPath("//button[normalize-space()='Je confirme ma présence']"))
            .await
            .is_err(),
        "no second confirm"
    );
    screenshot(&client, "fr-after-confirm").await;
    assert_eq!(
        server.get("/v1/appointments/B-FR").await.1["patient_status"],
        "confirmed"
    );

    // English through the patient's language; the switch leads to French and back.
    client.goto(&confirm_en).await.unwrap();
    let lang = client
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("lang")
        .await
        .unwrap();
    assert_eq!(lang.as_deref(), Some("en"));
    assert!(body_text(&client).await.contains("Join the video call"));
    screenshot(&client, "en-before-confirm").await;
    show_instructions(
        &client,
        "Instructions from the clinic",
        "Fast from midnight",
        "en-instructions",
    )
    .await;
    click_button(&client, "I confirm I will attend").await;
    wait_for_text(&client, "You confirmed that you will attend").await;
    screenshot(&client, "en-after-confirm").await;
    client
        .find(Locator::LinkText("Français"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "Vous avez confirmé votre présence").await;

    // Cancellation, three days ahead.
    client.goto(&cancel).await.unwrap();
    assert!(body_text(&client)
        .await
        .contains("Nous vous appellerons au (514) 555-0123"));
    click_button(&client, "Annuler le rendez-vous").await;
    wait_for_text(&client, "Vous avez annulé ce rendez-vous.").await;
    screenshot(&client, "fr-cancelled").await;
    assert_eq!(
        server.get("/v1/appointments/B-CX").await.1["patient_status"],
        "cancelled_by_patient"
    );

    // Arrival, 20 minutes before.
    client.goto(&arrive).await.unwrap();
    click_button(&client, "Je suis arrivé(e)").await;
    wait_for_text(&client, "Votre arrivée a été signalée").await;
    screenshot(&client, "fr-arrived").await;

    // The narrowest phones: 320 px.
    client.set_window_size(320, 640).await.unwrap();
    client.goto(&confirm_fr).await.unwrap();
    let (width, scroll) = widths(&client).await;
    assert!(scroll <= width, "horizontal scroll at {width}px: {scroll}");

    client.close().await.unwrap();
    drop(driver);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Opens the reschedule form, picks two half-days and writes a note, checks it is labelled and
/// fits the screen, sends it, and checks the page then shows the request.
async fn ask_for_another_time(client: &Client, labels: [&str; 5], choices: [&str; 2], note: &str, shot: &str) {
    let [summary, first, note_label, submit, sent] = labels;
    let summary_element = client
        .find(Locator::XPath(&format!("//summary[normalize-space()='{summary}']")))
        .await
        .unwrap_or_else(|_| panic!("no {summary:?}"));
    summary_element.click().await.unwrap();
    // Every control has its label, the first choice is required, and nothing scrolls sideways.
    let checks = client
        .execute(
            "const ids = ['choice1', 'choice2', 'choice3', 'note'];
             return [ids.every(id => document.querySelector(`label[for=${id}]`) !== null),
                     document.querySelector('label[for=choice1]').innerText,
                     document.querySelector('label[for=note]').innerText,
                     document.getElementById('choice1').required,
                     document.getElementById('choice1').options.length,
                     document.querySelector('details.reschedule').open];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checks, json!([true, first, note_label, true, 61, true]));
    client
        .find(Locator::Id("choice1"))
        .await
        .unwrap()
        .select_by_value(choices[0])
        .await
        .unwrap();
    client
        .find(Locator::Id("choice2"))
        .await
        .unwrap()
        .select_by_value(choices[1])
        .await
        .unwrap();
    client
        .find(Locator::Id("note"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    let (width, scroll) = widths(client).await;
    assert!(scroll <= width, "horizontal scroll at {width}px: {scroll}");
    client
        .execute("document.querySelector('details.reschedule').scrollIntoView();", vec![])
        .await
        .unwrap();
    screenshot(client, &format!("{shot}-form")).await;
    click_button(client, submit).await;
    wait_for_text(client, sent).await;
    let (width, scroll) = widths(client).await;
    assert!(scroll <= width, "horizontal scroll at {width}px: {scroll}");
    screenshot(client, &format!("{shot}-sent")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_asks_for_another_time_at_320_and_390_pixels_in_both_languages() {
    let dir = data_dir("browser-reschedule");
    let server = DevServer::start(&dir);
    server.set_clock("2030-01-07T15:00:00Z").await;
    let (_, mut clinic) = server.get("/v1/clinic").await;
    clinic["allow_reschedule_request"] = json!(true);
    server.put("/v1/clinic", &clinic).await;
    server
        .put("/v1/appointment-types/SUIVI", &json!({"communications": "full"}))
        .await;
    let link = |view: serde_json::Value| view["patient_url"].as_str().unwrap().to_owned();
    let mut links = Vec::new();
    for (n, language) in ["fr", "en", "fr", "en"].into_iter().enumerate() {
        let body = appointment(
            "2030-01-14T10:00:00-05:00",
            &format!("r{n}@example.ca"),
            language,
            "in_person",
        );
        links.push(link(server.put(&format!("/v1/appointments/R-{n}"), &body).await.1));
    }
    let french = [
        "Demander un autre moment",
        "Premier choix",
        "Note pour la clinique (facultatif)",
        "Envoyer la demande",
        "Votre demande d'un autre moment a été transmise",
    ];
    let english = [
        "Ask for another time",
        "First choice",
        "Note for the clinic (optional)",
        "Send the request",
        "Your request for another time was sent",
    ];
    let driver = Driver::start(dir.join("chromium-profile"));
    for (width, height, first) in [(390, 844, 0), (320, 640, 2)] {
        let client = driver.browser_at(width, height).await;
        client.goto(&links[first]).await.unwrap();
        let shot = format!("fr-reschedule-{width}");
        ask_for_another_time(
            &client,
            french,
            ["2030-01-09-am", "2030-01-10-pm"],
            "Plutôt le matin, <merci>",
            &shot,
        )
        .await;
        let page = body_text(&client).await;
        assert!(
            page.contains("mer. 9 janv., matin") && page.contains("Plutôt le matin, <merci>"),
            "{page}"
        );
        client.goto(&links[first + 1]).await.unwrap();
        let shot = format!("en-reschedule-{width}");
        ask_for_another_time(
            &client,
            english,
            ["2030-01-21-pm", "2030-02-06-am"],
            "Mornings are best.",
            &shot,
        )
        .await;
        assert!(body_text(&client).await.contains("Mon Jan 21, afternoon"));
        client.close().await.unwrap();
    }
    let (_, events) = server.get("/v1/events?limit=100").await;
    let requests: Vec<&serde_json::Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "patient_reschedule_requested")
        .collect();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0]["request"]["note"], "Plutôt le matin, <merci>");
    drop(driver);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
