//! Redis's glob matching (stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes, with
//! optional case folding. Used by KEYS, SCAN MATCH, CONFIG GET and CLIENT/PUBSUB filters.

pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    glob_at(pattern, text, nocase, 0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn glob_at(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize) -> bool {
    // Redis bounds the recursion of '*' to stop pathological patterns.
    if depth > 1000 {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob_at(&p[1..], s, nocase, depth + 1) {
                        return true;
                    }
                    s = &s[1..];
                }
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p {
                        [b'\\', c, ..] => {
                            if eq(*c, s[0], nocase) {
                                matched = true;
                            }
                            p = &p[2..];
                        }
                        [b']', ..] => break,
                        [] => {
                            p = &p[..0];
                            break;
                        }
                        [a, b'-', b, ..] if *b != b']' || p.len() > 3 => {
                            let (mut lo, mut hi) = (*a, *b);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            let c = s[0];
                            let in_range = if nocase {
                                let c = c.to_ascii_lowercase();
                                (lo.to_ascii_lowercase()..=hi.to_ascii_lowercase()).contains(&c)
                            } else {
                                (lo..=hi).contains(&c)
                            };
                            if in_range {
                                matched = true;
                            }
                            p = &p[3..];
                        }
                        [c, ..] => {
                            if eq(*c, s[0], nocase) {
                                matched = true;
                            }
                            p = &p[1..];
                        }
                    }
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // An unterminated class ends the pattern.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    if s.is_empty() {
        while p.first() == Some(&b'*') {
            p = &p[1..];
        }
        return p.is_empty();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_glob_semantics() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("user:*:name", "user:1000:name"));
        assert!(!m("a", "ab"));
        assert!(!m("ab", "a"));
        assert!(m("a*", "a"));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
    }
}
