//! A ticket as submitted: parsed from the request body into types that cannot hold bad values.

use serde::Deserialize;
use sysops_contract::{Channel, Priority};

const TITLE_CHARS: std::ops::RangeInclusive<usize> = 3..=200;
const DESCRIPTION_CHARS: std::ops::RangeInclusive<usize> = 1..=10_000;
const CUSTOMER_CHARS: std::ops::RangeInclusive<usize> = 1..=200;
const REGION_CHARS: std::ops::RangeInclusive<usize> = 1..=64;

/// The body of `POST /api/tickets`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketRequest {
    /// A short summary, 3 to 200 characters.
    #[schema(min_length = 3, max_length = 200)]
    pub title: String,
    /// What is wrong, in the customer's words; up to 10,000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    pub description: String,
    /// Where the customer is (letters, digits, `-` and `_`); routing prefers experts serving it.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub region: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Who the ticket is for, when staff enter it; a customer's tickets are their own.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub customer: Option<String>,
}

/// A submitted ticket whose every field is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    title: String,
    description: String,
    customer: String,
    region: Option<String>,
    priority: Priority,
    channel: Channel,
}

/// One field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl NewTicket {
    /// Checks every field, reporting all problems at once.
    pub fn parse(req: NewTicketRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = text_field("title", &req.title, TITLE_CHARS, &mut errors);
        let description = text_field(
            "description",
            &req.description,
            DESCRIPTION_CHARS,
            &mut errors,
        );
        let customer = match req.customer.as_deref() {
            None => "anonymous".to_owned(),
            Some(c) => text_field("customer", c, CUSTOMER_CHARS, &mut errors),
        };
        let region = req.region.as_deref().map(|r| {
            let r = text_field("region", r, REGION_CHARS, &mut errors).to_lowercase();
            if !r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errors.push(FieldError {
                    field: "region",
                    message: "may contain only letters, digits, '-' and '_'".into(),
                });
            }
            r
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewTicket {
            title,
            description,
            customer,
            region,
            priority: req.priority.unwrap_or_default(),
            channel: req.channel.unwrap_or_default(),
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    pub fn customer(&self) -> &str {
        &self.customer
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn priority(&self) -> Priority {
        self.priority
    }
    pub fn channel(&self) -> Channel {
        self.channel
    }
}

fn text_field(
    field: &'static str,
    value: &str,
    chars: std::ops::RangeInclusive<usize>,
    errors: &mut Vec<FieldError>,
) -> String {
    let trimmed = value.trim();
    let count = trimmed.chars().count();
    if !chars.contains(&count) {
        let message = if count == 0 {
            "must not be empty".to_owned()
        } else {
            format!(
                "must be {} to {} characters long, got {count}",
                chars.start(),
                chars.end()
            )
        };
        errors.push(FieldError { field, message });
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors.push(FieldError {
            field,
            message: "must not contain control characters".into(),
        });
    }
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(title: &str, description: &str) -> NewTicketRequest {
        NewTicketRequest {
            title: title.into(),
            description: description.into(),
            region: None,
            priority: None,
            channel: None,
            customer: None,
        }
    }

    #[test]
    fn a_valid_request_is_trimmed_and_gets_defaults() {
        let t =
            NewTicket::parse(request("  Printer jams  ", "It jams on every page")).expect("valid");
        assert_eq!(t.title(), "Printer jams");
        assert_eq!(t.priority(), Priority::Normal);
        assert_eq!(t.channel(), Channel::Web);
        assert_eq!(t.customer(), "anonymous");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut r = request(" ", &"x".repeat(10_001));
        r.region = Some("north east!".into());
        let errors = NewTicket::parse(r).expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "description", "region"]);
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(NewTicket::parse(request("ééé", "ü")).is_ok());
    }
}
