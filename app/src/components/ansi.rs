//! Job output with its ANSI colours, rendered safely: escape sequences are parsed into a
//! small fixed set of CSS classes (16 colours, bold, dim, italic, underline) and the text
//! always goes into text nodes, never into HTML. Other escape sequences (cursor moves,
//! window titles) and control characters are dropped; a carriage return keeps what follows.

use leptos::either::Either;
use leptos::prelude::*;

/// The look of a run of text. `fg`/`bg`: 0 is the default, 1–16 the ANSI colours (1–8
/// normal, 9–16 bright).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub fg: u8,
    pub bg: u8,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
}

impl Style {
    /// The CSS classes of this style (empty for plain text).
    pub fn classes(&self) -> String {
        let mut c = Vec::new();
        if self.fg > 0 {
            c.push(format!("a-f{}", self.fg));
        }
        if self.bg > 0 {
            c.push(format!("a-b{}", self.bg));
        }
        for (on, name) in [
            (self.bold, "a-bold"),
            (self.dim, "a-dim"),
            (self.italic, "a-it"),
            (self.underline, "a-ul"),
        ] {
            if on {
                c.push(name.to_string());
            }
        }
        c.join(" ")
    }

    /// Applies one SGR sequence's parameters (`ESC [ … m`).
    fn apply(&mut self, params: &str) {
        let mut it = params.split(';').map(|p| {
            if p.is_empty() {
                0
            } else {
                p.parse::<u16>().unwrap_or(u16::MAX)
            }
        });
        while let Some(p) = it.next() {
            match p {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = (p - 29) as u8,
                39 => self.fg = 0,
                40..=47 => self.bg = (p - 39) as u8,
                49 => self.bg = 0,
                90..=97 => self.fg = (p - 81) as u8,
                100..=107 => self.bg = (p - 91) as u8,
                // 256 colours (`5;n`, the first 16 kept) and true colour (`2;r;g;b`, dropped).
                38 | 48 => {
                    let colour = match it.next() {
                        Some(5) => it.next().filter(|n| *n < 16).map(|n| n as u8 + 1).unwrap_or(0),
                        Some(2) => {
                            it.by_ref().take(3).for_each(drop);
                            0
                        }
                        _ => 0,
                    };
                    match p {
                        38 => self.fg = colour,
                        _ => self.bg = colour,
                    }
                }
                _ => {}
            }
        }
    }
}

/// Splits `text` into runs of one style each, starting from `style` (which ends as the
/// style after the text, so that lines can be parsed one at a time).
pub fn parse(text: &str, style: &mut Style) -> Vec<(Style, String)> {
    let mut out: Vec<(Style, String)> = Vec::new();
    let mut push = |style: Style, ch: char| match out.last_mut() {
        Some((s, t)) if *s == style => t.push(ch),
        _ => out.push((style, ch.to_string())),
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte; only `m` (colours) is kept.
                Some('[') => {
                    let mut params = String::new();
                    for ch in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&ch) {
                            if ch == 'm' {
                                style.apply(&params);
                            }
                            break;
                        }
                        params.push(ch);
                    }
                }
                // OSC (window titles, links): up to BEL or ESC \.
                Some(']') => {
                    while let Some(ch) = chars.next() {
                        if ch == '\u{7}' || (ch == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' | '\t' => push(*style, c),
            c if c.is_control() => {}
            c => push(*style, c),
        }
    }
    out
}

/// `text` without its escape sequences and control characters (for search).
pub fn plain(text: &str) -> String {
    parse(text, &mut Style::default())
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

/// Renders `text` (one line or many) from `style` on.
pub fn render(text: &str, style: &mut Style) -> impl IntoView + use<> {
    parse(text, style)
        .into_iter()
        .map(|(s, t)| match s == Style::default() {
            true => Either::Left(t),
            false => Either::Right(view! { <span class=s.classes()>{t}</span> }),
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &str) -> Vec<(String, String)> {
        parse(text, &mut Style::default())
            .into_iter()
            .map(|(s, t)| (s.classes(), t))
            .collect()
    }

    #[test]
    fn colours_become_classes_and_reset_ends_them() {
        assert_eq!(
            runs("\u{1b}[31mred\u{1b}[0m plain \u{1b}[1;92mok\u{1b}[m"),
            [
                ("a-f2".into(), "red".into()),
                ("".into(), " plain ".into()),
                ("a-f11 a-bold".into(), "ok".into()),
            ]
        );
        assert_eq!(
            runs("\u{1b}[38;5;4mblue\u{1b}[39m"),
            [("a-f5".into(), "blue".into())]
        );
        assert_eq!(
            runs("\u{1b}[38;2;1;2;3;4mtrue\u{1b}[44;38;5;200mx"),
            [("a-ul".into(), "true".into()), ("a-b5 a-ul".into(), "x".into())]
        );
    }

    #[test]
    fn other_sequences_and_controls_are_dropped_text_is_kept() {
        assert_eq!(
            plain("a\u{1b}[2Kb\u{1b}]0;title\u{7}c\u{1b}]8;;x\u{1b}\\d\r\u{0}e\tf"),
            "abcde\tf"
        );
        // HTML stays text: it is never parsed (rendered as a text node).
        assert_eq!(plain("<b>&amp;</b>"), "<b>&amp;</b>");
        // A sequence cut off at the end of the text is dropped without panicking.
        assert_eq!(plain("x\u{1b}[3"), "x");
        assert_eq!(plain("x\u{1b}"), "x");
    }

    #[test]
    fn the_style_carries_over_to_the_next_line() {
        let mut style = Style::default();
        parse("\u{1b}[33mstart", &mut style);
        assert_eq!(style.fg, 4);
        let next = parse("still yellow\u{1b}[0m", &mut style);
        assert_eq!(next[0].0.fg, 4);
        assert_eq!(style, Style::default());
    }
}
