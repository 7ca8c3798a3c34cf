//! An incident's ask by e-mail: "are you safe?", with the person's own link. Sent whatever
//! the person's notification preference: preferences are for routine news, and this is the
//! duty of care.

use crate::app::incidents::CheckInLinks;
use crate::domain::incident::{Incident, RollEntry};
use crate::domain::person::{Language, Person};
use crate::store::mail::{MailState, NewMail};

use super::settings::MailSettings;
use super::templates::{Block, Letter, Words};

/// The message asking `entry` whether they are safe, if the service has an address for them:
/// the one on their request, or their directory entry's.
pub fn ask(
    incident: &Incident,
    entry: &RollEntry,
    people: &[Person],
    links: Option<&CheckInLinks>,
    settings: &MailSettings,
) -> Option<NewMail> {
    let own = people.iter().find(|p| {
        p.subject.as_str() == entry.traveller_id
            && p.follows_org
                .as_ref()
                .is_none_or(|o| o.as_str() == entry.org)
    });
    let address = entry
        .email
        .as_ref()
        .map(|e| e.as_str())
        .or(own.map(|p| p.email.as_str()))?;
    let default = Language::parse("", &settings.default_language).unwrap_or(Language::ENGLISH);
    let language = entry
        .language
        .or(own.map(|p| p.language))
        .unwrap_or(default);
    let letter = letter(incident, entry, links, language, settings);
    Some(NewMail {
        // One message per ask and person, whichever instance plans it.
        key: format!("incident/{}/{}", entry.id, entry.asks),
        request_id: Some(entry.request_id),
        recipient: address.to_owned(),
        person: own.map(|p| p.subject.as_str().to_owned()),
        language: language.as_str().to_owned(),
        subject: letter.subject.clone(),
        text: letter.text(),
        html: letter.html(language),
        state: MailState::Pending,
    })
}

fn letter(
    incident: &Incident,
    entry: &RollEntry,
    links: Option<&CheckInLinks>,
    language: Language,
    settings: &MailSettings,
) -> Letter {
    let w = Words::new(language);
    let subject_key = if entry.asks > 1 {
        "subject.ask_again"
    } else {
        "subject.ask"
    };
    let areas: Vec<&str> = incident.areas.iter().map(|a| a.as_str()).collect();
    let mut blocks = vec![
        Block::Paragraph(w.t("greeting", &[("name", &entry.traveller_name)])),
        Block::Paragraph(w.t(
            "body.ask",
            &[
                ("areas", &areas.join(", ")),
                ("since", &w.datetime(incident.started_at)),
            ],
        )),
        Block::Paragraph(incident.description.clone()),
    ];
    let url = match links {
        Some(links) => links.url(entry.id),
        None => settings.public_url.trim_end_matches('/').to_owned(),
    };
    let key = if links.is_some() {
        "ask.link"
    } else {
        "ask.page"
    };
    blocks.push(Block::Link {
        text: w.t(key, &[("url", &url)]),
        url,
    });
    blocks.push(Block::Paragraph(w.t("ask.footer", &[])));
    Letter {
        subject: w.t(
            subject_key,
            &[("description", &short(&incident.description))],
        ),
        blocks,
    }
}

/// A subject line's share of the description.
fn short(description: &str) -> String {
    const MAX: usize = 60;
    if description.chars().count() <= MAX {
        description.to_owned()
    } else {
        let cut: String = description.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    }
}
