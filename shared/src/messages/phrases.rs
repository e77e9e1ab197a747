//! Every fixed phrase patients read, in French and English. Kept in one table per language so a
//! translator reviews one place.

use crate::domain::{Language, MessageKind};

/// The fixed phrases of one language.
#[derive(Debug)]
pub struct Phrases {
    /// "Bonjour" / "Hello".
    pub hello: &'static str,
    /// The colon as each language sets it: " :" in French, ":" in English.
    pub colon: &'static str,
    /// The link/button of every email (docs/BEHAVIOUR.md §3.5).
    pub details_button: &'static str,
    /// Label of the date line.
    pub when: &'static str,
    /// Label of the professional line.
    pub with: &'static str,
    /// Label of the duration line.
    pub duration: &'static str,
    /// "minutes".
    pub minutes: &'static str,
    /// Label of the place line.
    pub where_: &'static str,
    /// Telemedicine heading.
    pub video_title: &'static str,
    /// How to join the video call.
    pub video_how: &'static str,
    /// The video link label.
    pub video_join: &'static str,
    /// Video link not known yet.
    pub video_link_later: &'static str,
    /// Phone modality title.
    pub phone_title: &'static str,
    /// Home visit title.
    pub home_title: &'static str,
    /// Home visit explanation.
    pub home_how: &'static str,
    /// In person title.
    pub in_person_title: &'static str,
    /// Map link label.
    pub map: &'static str,
    /// Questionnaire prompt.
    pub questionnaire: &'static str,
    /// Questionnaire link label.
    pub questionnaire_button: &'static str,
    /// Heading of the clinic's own instructions for the type.
    pub instructions_title: &'static str,
    /// Please confirm.
    pub please_confirm: &'static str,
    /// Footer: why the patient receives this.
    pub footer: &'static str,
    /// "Questions? Call us at".
    pub contact: &'static str,
    /// Patient page: confirm button.
    pub confirm_button: &'static str,
    /// Patient page: cancel button.
    pub cancel_button: &'static str,
    /// Patient page: arrival button.
    pub arrive_button: &'static str,
    /// Patient page: add to calendar.
    pub calendar: &'static str,
    /// Patient page: status confirmed.
    pub state_confirmed: &'static str,
    /// Patient page: status cancelled by the patient.
    pub state_cancelled_by_patient: &'static str,
    /// Patient page: cancelled by the clinic.
    pub state_cancelled: &'static str,
    /// Patient page: arrived.
    pub state_arrived: &'static str,
    /// Patient page: past.
    pub state_past: &'static str,
    /// Patient page: title.
    pub page_title: &'static str,
    /// Name of the other language, for the switch.
    pub other_language: &'static str,
    /// Refusal page title.
    pub refused_title: &'static str,
    /// Back to the details.
    pub back: &'static str,
    /// Link expired.
    pub expired: &'static str,
    /// Link unknown.
    pub unknown: &'static str,
    /// Reschedule request: the card's heading and button that opens it.
    pub reschedule_title: &'static str,
    /// Reschedule request: what the form is for.
    pub reschedule_intro: &'static str,
    /// Reschedule request: the group of choices.
    pub reschedule_legend: &'static str,
    /// Reschedule request: the three choices' labels.
    pub reschedule_choices: [&'static str; 3],
    /// Reschedule request: the empty option of a choice.
    pub reschedule_no_choice: &'static str,
    /// Reschedule request: the note's label.
    pub reschedule_note: &'static str,
    /// Reschedule request: the note's hint.
    pub reschedule_note_hint: &'static str,
    /// Reschedule request: the submit button.
    pub reschedule_submit: &'static str,
    /// Reschedule request: sent, waiting for the clinic.
    pub reschedule_sent: &'static str,
    /// Reschedule request: the form was not filled right.
    pub reschedule_invalid: &'static str,
    /// "matin" / "morning".
    pub morning: &'static str,
    /// "après-midi" / "afternoon".
    pub afternoon: &'static str,
}

/// French (the default).
pub const FR: Phrases = Phrases {
    hello: "Bonjour",
    colon: "\u{a0}:",
    details_button: "Voir les détails et confirmer",
    when: "Date",
    with: "Avec",
    duration: "Durée",
    minutes: "minutes",
    where_: "Lieu",
    video_title: "Rendez-vous par vidéo",
    video_how: "Quelques minutes avant l'heure, ouvrez le lien ci-dessous depuis un appareil avec caméra et micro.",
    video_join: "Rejoindre la vidéoconférence",
    video_link_later: "Le lien de la vidéoconférence vous sera communiqué avant le rendez-vous.",
    phone_title: "Rendez-vous par téléphone",
    home_title: "Visite à domicile",
    home_how: "Le professionnel se rendra chez vous. Assurez-vous d'être disponible à l'heure prévue.",
    in_person_title: "Rendez-vous en personne",
    map: "Voir sur la carte",
    questionnaire: "Merci de remplir le questionnaire préalable avant votre visite.",
    questionnaire_button: "Remplir le questionnaire",
    instructions_title: "Consignes de la clinique",
    please_confirm: "Merci de confirmer votre présence.",
    footer: "Vous recevez ce message parce qu'un rendez-vous a été pris pour vous.",
    contact: "Des questions\u{a0}? Appelez-nous au",
    confirm_button: "Je confirme ma présence",
    cancel_button: "Annuler le rendez-vous",
    arrive_button: "Je suis arrivé(e)",
    calendar: "Ajouter à mon agenda",
    state_confirmed: "Vous avez confirmé votre présence. Merci!",
    state_cancelled_by_patient: "Vous avez annulé ce rendez-vous.",
    state_cancelled: "Ce rendez-vous a été annulé par la clinique.",
    state_arrived: "Votre arrivée a été signalée. Veuillez patienter, on vous appellera.",
    state_past: "Ce rendez-vous est passé.",
    page_title: "Votre rendez-vous",
    other_language: "English",
    refused_title: "Action impossible",
    back: "Retour au rendez-vous",
    expired: "Ce lien a expiré.",
    unknown: "Ce lien n'est pas valide.",
    reschedule_title: "Demander un autre moment",
    reschedule_intro: "Choisissez jusqu'à trois demi-journées qui vous conviendraient dans les 30 prochains jours. La clinique communiquera avec vous pour fixer le nouveau moment; votre rendez-vous actuel reste prévu d'ici là.",
    reschedule_legend: "Demi-journées qui vous conviendraient",
    reschedule_choices: ["Premier choix", "Deuxième choix (facultatif)", "Troisième choix (facultatif)"],
    reschedule_no_choice: "— Aucun —",
    reschedule_note: "Note pour la clinique (facultatif)",
    reschedule_note_hint: "500 caractères au plus. N'y inscrivez pas de renseignements médicaux.",
    reschedule_submit: "Envoyer la demande",
    reschedule_sent: "Votre demande d'un autre moment a été transmise à la clinique, qui communiquera avec vous.",
    reschedule_invalid: "Choisissez au moins une demi-journée, sans choisir deux fois la même, et une note de 500 caractères au plus.",
    morning: "matin",
    afternoon: "après-midi",
};

/// English.
pub const EN: Phrases = Phrases {
    hello: "Hello",
    colon: ":",
    details_button: "View details and confirm",
    when: "When",
    with: "With",
    duration: "Duration",
    minutes: "minutes",
    where_: "Where",
    video_title: "Video appointment",
    video_how: "A few minutes before the time, open the link below on a device with a camera and microphone.",
    video_join: "Join the video call",
    video_link_later: "The video call link will be sent to you before the appointment.",
    phone_title: "Phone appointment",
    home_title: "Home visit",
    home_how: "The professional will come to your home. Please be available at the scheduled time.",
    in_person_title: "In-person appointment",
    map: "View on map",
    questionnaire: "Please fill in the pre-visit questionnaire before your visit.",
    questionnaire_button: "Fill in the questionnaire",
    instructions_title: "Instructions from the clinic",
    please_confirm: "Please confirm that you will attend.",
    footer: "You are receiving this message because an appointment was booked for you.",
    contact: "Questions? Call us at",
    confirm_button: "I confirm I will attend",
    cancel_button: "Cancel the appointment",
    arrive_button: "I have arrived",
    calendar: "Add to my calendar",
    state_confirmed: "You confirmed that you will attend. Thank you!",
    state_cancelled_by_patient: "You cancelled this appointment.",
    state_cancelled: "This appointment was cancelled by the clinic.",
    state_arrived: "Your arrival has been noted. Please wait, you will be called.",
    state_past: "This appointment is over.",
    page_title: "Your appointment",
    other_language: "Français",
    refused_title: "This cannot be done",
    back: "Back to the appointment",
    expired: "This link has expired.",
    unknown: "This link is not valid.",
    reschedule_title: "Ask for another time",
    reschedule_intro: "Choose up to three half-days that would suit you in the next 30 days. The clinic will contact you to set the new time; your current appointment stands until then.",
    reschedule_legend: "Half-days that would suit you",
    reschedule_choices: ["First choice", "Second choice (optional)", "Third choice (optional)"],
    reschedule_no_choice: "— None —",
    reschedule_note: "Note for the clinic (optional)",
    reschedule_note_hint: "500 characters at most. Please do not include medical information.",
    reschedule_submit: "Send the request",
    reschedule_sent: "Your request for another time was sent to the clinic, which will contact you.",
    reschedule_invalid: "Choose at least one half-day, not the same one twice, and a note of 500 characters at most.",
    morning: "morning",
    afternoon: "afternoon",
};

/// The table for `lang`.
pub fn for_language(lang: Language) -> &'static Phrases {
    match lang {
        Language::Fr => &FR,
        Language::En => &EN,
    }
}

/// The email's subject line.
pub fn subject(kind: MessageKind, lang: Language, when: &str) -> String {
    match (lang, kind) {
        (Language::Fr, MessageKind::Confirmation) => format!("Confirmation de votre rendez-vous du {when}"),
        (Language::Fr, MessageKind::Change) => format!("Modification de votre rendez-vous : {when}"),
        (Language::Fr, MessageKind::Cancellation) => format!("Annulation de votre rendez-vous du {when}"),
        (Language::Fr, MessageKind::CancellationReceipt) => {
            format!("Votre annulation du rendez-vous du {when} est enregistrée")
        }
        (Language::Fr, MessageKind::Reminder) => format!("Rappel : votre rendez-vous du {when}"),
        (Language::Fr, MessageKind::ConfirmationReceipt) => format!("Présence confirmée : votre rendez-vous du {when}"),
        (Language::Fr, MessageKind::ReplyHelp) => format!("Votre rendez-vous du {when}"),
        (Language::En, MessageKind::Confirmation) => format!("Confirmation of your appointment on {when}"),
        (Language::En, MessageKind::Change) => format!("Your appointment has changed: {when}"),
        (Language::En, MessageKind::Cancellation) => format!("Your appointment on {when} is cancelled"),
        (Language::En, MessageKind::CancellationReceipt) => {
            format!("Your cancellation of the appointment on {when} is recorded")
        }
        (Language::En, MessageKind::Reminder) => format!("Reminder: your appointment on {when}"),
        (Language::En, MessageKind::ConfirmationReceipt) => format!("Confirmed: your appointment on {when}"),
        (Language::En, MessageKind::ReplyHelp) => format!("Your appointment on {when}"),
    }
}

/// The first paragraph of the email.
pub fn lead(kind: MessageKind, lang: Language, clinic: &str) -> String {
    match (lang, kind) {
        (Language::Fr, MessageKind::Confirmation) => format!("Votre rendez-vous à {clinic} est confirmé."),
        (Language::Fr, MessageKind::Change) => {
            format!("Votre rendez-vous à {clinic} a été modifié. Voici les nouveaux détails.")
        }
        (Language::Fr, MessageKind::Cancellation) => {
            format!("{clinic} a annulé votre rendez-vous. Communiquez avec la clinique pour en prendre un autre.")
        }
        (Language::Fr, MessageKind::CancellationReceipt) => {
            format!("Nous avons bien reçu votre annulation. {clinic} en est informée.")
        }
        (Language::Fr, MessageKind::Reminder) => format!("Votre rendez-vous à {clinic} approche."),
        (Language::Fr, MessageKind::ConfirmationReceipt) => {
            format!("Merci d'avoir confirmé votre présence. {clinic} en est informée.")
        }
        (Language::Fr, MessageKind::ReplyHelp) => {
            "Nous ne pouvons pas donner suite à votre réponse. Utilisez le lien ci-dessous ou appelez la clinique."
                .to_owned()
        }
        (Language::En, MessageKind::Confirmation) => format!("Your appointment at {clinic} is booked."),
        (Language::En, MessageKind::Change) => {
            format!("Your appointment at {clinic} has changed. Here are the new details.")
        }
        (Language::En, MessageKind::Cancellation) => {
            format!("{clinic} cancelled your appointment. Please contact the clinic to book another one.")
        }
        (Language::En, MessageKind::CancellationReceipt) => {
            format!("We received your cancellation. {clinic} has been informed.")
        }
        (Language::En, MessageKind::Reminder) => format!("Your appointment at {clinic} is coming up."),
        (Language::En, MessageKind::ConfirmationReceipt) => {
            format!("Thank you for confirming. {clinic} has been informed.")
        }
        (Language::En, MessageKind::ReplyHelp) => {
            "Your reply could not be used. Please use the link below or call the clinic.".to_owned()
        }
    }
}

/// "Nous vous appellerons au …" / "We will call you at …".
pub fn we_will_call(lang: Language, number: Option<&str>) -> String {
    match (lang, number) {
        (Language::Fr, Some(n)) => format!("Nous vous appellerons au {n} à l'heure du rendez-vous."),
        (Language::Fr, None) => {
            "Nous vous appellerons au numéro inscrit à votre dossier à l'heure du rendez-vous.".to_owned()
        }
        (Language::En, Some(n)) => format!("We will call you at {n} at the time of the appointment."),
        (Language::En, None) => {
            "We will call you at the number in your file at the time of the appointment.".to_owned()
        }
    }
}

/// "Vous pourrez confirmer à partir du …".
pub fn confirm_opens(lang: Language, when: &str) -> String {
    match lang {
        Language::Fr => format!("Vous pourrez confirmer votre présence à partir du {when}."),
        Language::En => format!("You can confirm that you will attend from {when}."),
    }
}

/// "L'annulation en ligne est fermée : appelez …".
pub fn cancellation_closed(lang: Language, phone: Option<&str>) -> String {
    match (lang, phone) {
        (Language::Fr, Some(p)) => format!("L'annulation en ligne est fermée (moins de 24 heures avant le rendez-vous). Pour annuler, appelez le {p}."),
        (Language::Fr, None) => "L'annulation en ligne est fermée (moins de 24 heures avant le rendez-vous). Pour annuler, appelez la clinique.".to_owned(),
        (Language::En, Some(p)) => format!("Online cancellation has closed (less than 24 hours before the appointment). To cancel, call {p}."),
        (Language::En, None) => "Online cancellation has closed (less than 24 hours before the appointment). To cancel, call the clinic.".to_owned(),
    }
}

/// A half-day as the form offers it: "mer. 2 déc., matin" / "Wed Dec 2, morning".
pub fn half_day(lang: Language, day: &crate::domain::HalfDay) -> String {
    let t = for_language(lang);
    let date = super::format::short_date(day.date.and_time(chrono::NaiveTime::MIN), lang);
    let part = match day.part {
        crate::domain::DayPart::Am => t.morning,
        crate::domain::DayPart::Pm => t.afternoon,
    };
    format!("{date}, {part}")
}

/// Why an action was refused, for the 409 page.
pub fn refusal(
    lang: Language,
    refusal: crate::rules::Refusal,
    when: impl Fn(chrono::DateTime<chrono::Utc>) -> String,
    phone: Option<&str>,
) -> String {
    use crate::rules::Refusal::*;
    match (lang, refusal) {
        (_, ConfirmNotOpenYet(at)) => confirm_opens(lang, &when(at)),
        (_, CancellationClosed(_)) => cancellation_closed(lang, phone),
        (Language::Fr, RescheduleNotAllowed) => match phone {
            Some(p) => format!("La clinique ne prend pas les demandes en ligne. Pour changer de moment, appelez le {p}."),
            None => "La clinique ne prend pas les demandes en ligne. Pour changer de moment, appelez la clinique.".to_owned(),
        },
        (Language::En, RescheduleNotAllowed) => match phone {
            Some(p) => format!("The clinic does not take requests online. To change the time, call {p}."),
            None => "The clinic does not take requests online. To change the time, call the clinic.".to_owned(),
        },
        (Language::Fr, RescheduleClosed(_)) => match phone {
            Some(p) => format!("Il est trop tard pour demander un autre moment en ligne (moins de 24 heures avant le rendez-vous). Appelez le {p}."),
            None => "Il est trop tard pour demander un autre moment en ligne (moins de 24 heures avant le rendez-vous). Appelez la clinique.".to_owned(),
        },
        (Language::En, RescheduleClosed(_)) => match phone {
            Some(p) => format!("It is too late to ask for another time online (less than 24 hours before the appointment). Call {p}."),
            None => "It is too late to ask for another time online (less than 24 hours before the appointment). Call the clinic.".to_owned(),
        },
        (Language::Fr, RescheduleAlreadyRequested) => "Vous avez déjà demandé un autre moment; la clinique communiquera avec vous.".to_owned(),
        (Language::En, RescheduleAlreadyRequested) => "You already asked for another time; the clinic will contact you.".to_owned(),
        (Language::Fr, ChangedSinceAnswered) => "Le rendez-vous a changé depuis votre réponse.".to_owned(),
        (Language::En, ChangedSinceAnswered) => "The appointment changed after your answer.".to_owned(),
        (Language::Fr, AppointmentCancelled) => "Ce rendez-vous est annulé.".to_owned(),
        (Language::En, AppointmentCancelled) => "This appointment is cancelled.".to_owned(),
        (Language::Fr, AppointmentStarted) => "Le rendez-vous a déjà commencé.".to_owned(),
        (Language::En, AppointmentStarted) => "The appointment has already started.".to_owned(),
        (Language::Fr, CancellationNotAllowed) => match phone {
            Some(p) => format!("La clinique n'offre pas l'annulation en ligne. Pour annuler, appelez le {p}."),
            None => "La clinique n'offre pas l'annulation en ligne. Pour annuler, appelez la clinique.".to_owned(),
        },
        (Language::En, CancellationNotAllowed) => match phone {
            Some(p) => format!("The clinic does not offer online cancellation. To cancel, call {p}."),
            None => "The clinic does not offer online cancellation. To cancel, call the clinic.".to_owned(),
        },
        (Language::Fr, ArrivalNotAllowed) => {
            "La clinique n'offre pas l'enregistrement de l'arrivée en ligne. Présentez-vous à l'accueil.".to_owned()
        }
        (Language::En, ArrivalNotAllowed) => {
            "The clinic does not offer online check-in. Please go to the front desk.".to_owned()
        }
        (Language::Fr, ArrivalNotOpenYet(at)) => {
            format!("Vous pourrez signaler votre arrivée à partir de {}.", when(at))
        }
        (Language::En, ArrivalNotOpenYet(at)) => format!("You can check in from {}.", when(at)),
        (Language::Fr, ArrivalClosed) => "L'heure du rendez-vous est passée : présentez-vous à l'accueil.".to_owned(),
        (Language::En, ArrivalClosed) => "The appointment time has passed: please go to the front desk.".to_owned(),
    }
}

/// Which answers a text invites (only those Rappel would act on when it goes out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyInvite {
    /// "Reply OUI / YES to confirm".
    pub confirm: bool,
    /// "Reply ANNULER / 2 to cancel" (never `CANCEL`: a carrier opt-out word).
    pub cancel: bool,
}

impl ReplyInvite {
    /// No invitation.
    pub const NONE: ReplyInvite = ReplyInvite {
        confirm: false,
        cancel: false,
    };
}

/// What a text is made of: no health information (clinic, date, time, link, clinic phone).
#[derive(Debug, Clone, Copy)]
pub struct TextParts<'a> {
    /// The clinic's name, already cut to length.
    pub clinic: &'a str,
    /// "mar. 1er déc.".
    pub date: &'a str,
    /// "14 h 30".
    pub time: &'a str,
    /// The patient page.
    pub link: &'a str,
    /// The clinic's phone, for the answer to a reply Rappel cannot act on.
    pub phone: Option<&'a str>,
}

/// The sentence inviting replies, with a trailing space; empty when none is invited.
fn invitation(lang: Language, invite: ReplyInvite) -> &'static str {
    match (lang, invite.confirm, invite.cancel) {
        (_, false, false) => "",
        (Language::Fr, true, true) => "Répondez OUI pour confirmer ou ANNULER pour annuler. ",
        (Language::Fr, true, false) => "Répondez OUI pour confirmer. ",
        (Language::Fr, false, true) => "Pour annuler, répondez ANNULER. ",
        // Never the word "cancel" in English: a patient answering it would opt out of every text.
        (Language::En, true, true) => "Reply YES to confirm, or 2 if you cannot come. ",
        (Language::En, true, false) => "Reply YES to confirm. ",
        (Language::En, false, true) => "If you cannot come, reply 2. ",
    }
}

/// The text message. French stays in GSM-7. A reminder asks to confirm only when `ask_confirm`
/// (confirming is open and not done yet); `invite` adds the answers the patient may text back.
pub fn sms(kind: MessageKind, lang: Language, p: &TextParts<'_>, ask_confirm: bool, invite: ReplyInvite) -> String {
    let TextParts {
        clinic,
        date,
        time,
        link,
        phone,
    } = *p;
    let inv = invitation(lang, invite);
    match (lang, kind) {
        (Language::Fr, MessageKind::Reminder) if !inv.is_empty() => {
            format!("{clinic} : rappel, rendez-vous le {date} à {time}. {inv}Détails : {link}")
        }
        (Language::En, MessageKind::Reminder) if !inv.is_empty() => {
            format!("{clinic}: reminder, appointment on {date} at {time}. {inv}Details: {link}")
        }
        (Language::Fr, MessageKind::Reminder) if !ask_confirm => {
            format!("{clinic} : rappel, rendez-vous le {date} à {time}. Détails : {link}")
        }
        (Language::En, MessageKind::Reminder) if !ask_confirm => {
            format!("{clinic}: reminder, appointment on {date} at {time}. Details: {link}")
        }
        (Language::Fr, MessageKind::Confirmation) if !inv.is_empty() => {
            format!("{clinic} : rendez-vous le {date} à {time}. {inv}Détails : {link}")
        }
        (Language::Fr, MessageKind::Confirmation) => {
            format!("{clinic} : rendez-vous le {date} à {time}. Détails et confirmation : {link}")
        }
        (Language::Fr, MessageKind::Change) => {
            format!("{clinic} : votre rendez-vous a changé ({date} à {time}). {inv}Détails : {link}")
        }
        (Language::Fr, MessageKind::Cancellation) => {
            format!("{clinic} : votre rendez-vous du {date} à {time} est annulé. Détails : {link}")
        }
        (Language::Fr, MessageKind::CancellationReceipt) => {
            format!("{clinic} : votre annulation du {date} à {time} est enregistrée. Détails : {link}")
        }
        (Language::Fr, MessageKind::Reminder) => {
            format!("{clinic} : rappel, rendez-vous le {date} à {time}. Merci de confirmer : {link}")
        }
        (Language::Fr, MessageKind::ConfirmationReceipt) => {
            format!("{clinic} : présence confirmée, {date} à {time}. Merci! Détails : {link}")
        }
        (Language::Fr, MessageKind::ReplyHelp) => {
            let call = phone.map(|n| format!(" ou appelez le {n}")).unwrap_or_default();
            format!("{clinic} : nous ne pouvons pas donner suite à votre réponse (rendez-vous du {date} à {time}). {inv}Lien : {link}{call}.")
        }
        (Language::En, MessageKind::Confirmation) if !inv.is_empty() => {
            format!("{clinic}: appointment on {date} at {time}. {inv}Details: {link}")
        }
        (Language::En, MessageKind::Confirmation) => {
            format!("{clinic}: appointment on {date} at {time}. Details and confirmation: {link}")
        }
        (Language::En, MessageKind::Change) => {
            format!("{clinic}: your appointment changed ({date} at {time}). {inv}Details: {link}")
        }
        (Language::En, MessageKind::Cancellation) => {
            format!("{clinic}: your appointment on {date} at {time} is cancelled. Details: {link}")
        }
        (Language::En, MessageKind::CancellationReceipt) => {
            format!("{clinic}: cancellation of {date} at {time} received. Details: {link}")
        }
        (Language::En, MessageKind::Reminder) => {
            format!("{clinic}: reminder, appointment on {date} at {time}. Please confirm: {link}")
        }
        (Language::En, MessageKind::ConfirmationReceipt) => {
            format!("{clinic}: confirmed, {date} at {time}. Thank you! Details: {link}")
        }
        (Language::En, MessageKind::ReplyHelp) => {
            let call = phone.map(|n| format!(" or call {n}")).unwrap_or_default();
            format!(
                "{clinic}: we could not act on your reply (appointment on {date} at {time}). {inv}Link: {link}{call}."
            )
        }
    }
}
