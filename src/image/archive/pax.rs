//! pax extended-header records (POSIX.1-2001 `"<len> <key>=<value>\\n"`),
//! written and read by length only: xattr values such as
//! `security.capability` are binary and may hold newlines.

/// One pax record: `"<len> <key>=<value>\n"`, where len counts itself.
pub(crate) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

/// Parses pax records (`"<len> <key>=<value>\n"`); values may hold any
/// byte, newlines included, so records are split by their length only.
pub(crate) fn parse_pax(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|b| *b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|b| *b == b' ')
            .ok_or("pax record without length")?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("pax record length is not a number")?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("pax record length is wrong".to_string());
        }
        let record = &data[space + 1..len - 1];
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or("pax record without '='")?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| "pax key is not UTF-8")?;
        out.push((key.to_string(), record[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_any_bytes() {
        let values: [&[u8]; 4] = [b"", b"y", b"a\nb=c\0d", &[0xff; 200]];
        let mut data = Vec::new();
        for (i, v) in values.iter().enumerate() {
            data.extend(pax_record(&format!("SCHILY.xattr.user.k{i}"), v));
        }
        let parsed = parse_pax(&data).expect("parse");
        assert_eq!(parsed.len(), values.len());
        for (i, (k, v)) in parsed.iter().enumerate() {
            assert_eq!(k, &format!("SCHILY.xattr.user.k{i}"));
            assert_eq!(v.as_slice(), values[i]);
        }
    }

    #[test]
    fn record_length_counts_its_own_digits() {
        // 9 + 1 + 3 + 1 ... lengths crossing a digit boundary.
        for n in 0..300 {
            let v = vec![b'x'; n];
            let rec = pax_record("k", &v);
            let len: usize =
                std::str::from_utf8(&rec[..rec.iter().position(|b| *b == b' ').expect("space")])
                    .expect("utf8")
                    .parse()
                    .expect("number");
            assert_eq!(len, rec.len());
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        for bad in [&b"5 k=v\n"[..], b"x k=v\n", b"99 k=v\n", b"7 kv\n\n\n"] {
            assert!(
                parse_pax(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_pax(b"6 k=v\n").expect("ok"),
            vec![("k".to_string(), b"v".to_vec())]
        );
    }
}
