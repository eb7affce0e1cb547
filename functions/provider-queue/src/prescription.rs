//! The prescription document: one A4 page under the letterhead of the order's clinic, signed
//! with the prescriber's title line and their DEA number and licence for that clinic. Text
//! only, in the standard Helvetica fonts, so it renders everywhere and its text can be read
//! back (the tests do).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use serde::Deserialize;

/// What `api.order_to_send` returns: everything printed, nothing else.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prescription {
    pub order: Order,
    pub patient: Patient,
    pub clinic: Clinic,
    pub prescriber: Prescriber,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: uuid::Uuid,
    pub medication: String,
    pub strength: Option<String>,
    pub quantity: String,
    pub directions: String,
    pub refills: u8,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clinic {
    pub id: uuid::Uuid,
    pub name: String,
    /// `{address, phone, fax, email, website}`, any of them.
    pub letterhead: serde_json::Map<String, serde_json::Value>,
    pub pharmacy_secret_ref: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prescriber {
    pub first_name: String,
    pub last_name: String,
    pub npi: Option<String>,
    pub title_line: Option<String>,
    pub dea_number: String,
    pub license_number: String,
    pub license_state: String,
}

impl Prescriber {
    /// How the prescriber signs at this clinic: their title line there, or their name.
    pub fn signature(&self) -> String {
        self.title_line
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.first_name, self.last_name))
    }
}

/// The letterhead lines, in the order they are printed.
const LETTERHEAD: [&str; 5] = ["address", "phone", "fax", "email", "website"];
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
/// Characters per line of 11-point Helvetica across the page.
const WRAP: usize = 90;

/// The PDF of `rx`, approved at `approved_at` (UTC, as printed).
pub fn render(rx: &Prescription, approved_at: &str) -> Vec<u8> {
    let mut lines: Vec<(Style, String)> = vec![(Style::Heading, rx.clinic.name.clone())];
    for field in LETTERHEAD {
        if let Some(text) = rx.clinic.letterhead.get(field).and_then(|v| v.as_str()) {
            lines.push((Style::Small, text.to_owned()));
        }
    }
    let patient = [&rx.patient.first_name, &rx.patient.last_name]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let medication = match &rx.order.strength {
        Some(strength) => format!("{} {strength}", rx.order.medication),
        None => rx.order.medication.clone(),
    };
    lines.extend([
        (Style::Gap, String::new()),
        (Style::Title, "Prescription".to_owned()),
        (Style::Body, format!("Order {}", rx.order.id)),
        (Style::Gap, String::new()),
        (Style::Body, format!("Patient: {patient}")),
    ]);
    if let Some(born) = &rx.patient.date_of_birth {
        lines.push((Style::Body, format!("Date of birth: {born}")));
    }
    lines.extend([
        (Style::Gap, String::new()),
        (Style::Title, format!("Rx: {medication}")),
        (Style::Body, format!("Quantity: {}", rx.order.quantity)),
    ]);
    lines.extend(
        wrap(&format!("Directions: {}", rx.order.directions))
            .into_iter()
            .map(|l| (Style::Body, l)),
    );
    let p = &rx.prescriber;
    lines.extend([
        (Style::Body, format!("Refills: {}", rx.order.refills)),
        (Style::Gap, String::new()),
        (Style::Title, p.signature()),
        (Style::Body, format!("DEA: {}", p.dea_number)),
        (
            Style::Body,
            format!("Licence: {} ({})", p.license_number, p.license_state),
        ),
    ]);
    if let Some(npi) = &p.npi {
        lines.push((Style::Body, format!("NPI: {npi}")));
    }
    lines.extend([
        (Style::Gap, String::new()),
        (
            Style::Small,
            format!(
                "Approved electronically by {} {} on {approved_at}.",
                p.first_name, p.last_name
            ),
        ),
    ]);
    write(&lines)
}

#[derive(Clone, Copy)]
enum Style {
    Heading,
    Title,
    Body,
    Small,
    Gap,
}

impl Style {
    /// Font (F1 regular, F2 bold), size and the space the line takes.
    fn font(self) -> (&'static [u8], f32, f32) {
        match self {
            Style::Heading => (b"F2", 18.0, 24.0),
            Style::Title => (b"F2", 13.0, 18.0),
            Style::Body => (b"F1", 11.0, 15.0),
            Style::Small => (b"F1", 9.0, 12.0),
            Style::Gap => (b"F1", 11.0, 10.0),
        }
    }
}

fn write(lines: &[(Style, String)]) -> Vec<u8> {
    let (catalog, tree, page, regular, bold, content_id) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1));
    p.parent(tree);
    p.contents(content_id);
    p.resources()
        .fonts()
        .pair(Name(b"F1"), regular)
        .pair(Name(b"F2"), bold);
    p.finish();
    for (id, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }

    let mut content = Content::new();
    let mut y = PAGE.1 - MARGIN;
    for (style, text) in lines {
        let (font, size, advance) = style.font();
        y -= advance;
        if text.is_empty() {
            continue;
        }
        content.begin_text();
        content.set_font(Name(font), size);
        content.next_line(MARGIN, y);
        content.show(Str(&win_ansi(text)));
        content.end_text();
    }
    pdf.stream(content_id, &content.finish());
    pdf.finish()
}

/// Text in the fonts' encoding: Latin-1 characters as themselves, anything else as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u32::from(c) {
            n @ (0x20..=0x7e | 0xa0..=0xff) => n as u8,
            _ => b'?',
        })
        .collect()
}

/// Breaks a long line at spaces so it stays on the page.
fn wrap(text: &str) -> Vec<String> {
    let (mut lines, mut line) = (Vec::new(), String::new());
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WRAP {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_directions_wrap_and_foreign_letters_degrade() {
        let lines = wrap(&"word ".repeat(60));
        assert!(lines.len() > 1 && lines.iter().all(|l| l.chars().count() <= WRAP));
        assert_eq!(win_ansi("Zoë 李"), b"Zo\xeb ?".to_vec());
    }
}
