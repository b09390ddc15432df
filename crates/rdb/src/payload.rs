//! DUMP payloads: one value in RDB form, as `DUMP` returns it and
//! `RESTORE` (and `MIGRATE`) accept it.
//!
//! Layout: the type byte and the value exactly as in an RDB file, then a
//! footer of the RDB version (2 bytes, little-endian) and the CRC64 of
//! everything before the CRC (8 bytes, little-endian). Redis 7.0 refuses a
//! payload from a newer RDB version or with a wrong CRC before it looks at
//! the value, and refuses a value it cannot parse, one its checks find
//! corrupt (see `sanitize`), or an empty collection (which never exists in
//! a keyspace) as bad data.

use crate::{RdbError, RdbValue, Reader, Sanitize, Writer, CRC64};

/// Why a payload was refused; the server maps each to Redis's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Too short, from a newer RDB version, or a CRC mismatch.
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    /// The value does not parse or is corrupt; the error says why and
    /// where, for the log.
    #[error("Bad data format")]
    Data(RdbError),
}

/// Bytes of the footer: version (2) and CRC64 (8).
const FOOTER: usize = 10;

/// Encodes one value as a DUMP payload (LZF compression where it pays, as
/// Redis with `rdbcompression yes`).
pub fn dump_value(value: &RdbValue) -> Vec<u8> {
    let mut w = Writer::for_payload(Vec::new(), true);
    // Writing to a Vec cannot fail.
    w.put_value(b"", value, None)
        .and_then(|_| w.finish_payload())
        .unwrap_or_default()
}

/// Checks the footer of `payload` (Redis's `verifyDumpPayload`); with
/// `skip_checksum` (Redis's `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`) only
/// the version is checked.
pub fn verify_payload(payload: &[u8], skip_checksum: bool) -> Result<(), PayloadError> {
    if payload.len() < FOOTER {
        return Err(PayloadError::Footer);
    }
    let body_end = payload.len() - 8;
    let version = u16::from_le_bytes([payload[body_end - 2], payload[body_end - 1]]);
    if u32::from(version) > crate::RDB_VERSION {
        return Err(PayloadError::Footer);
    }
    if skip_checksum {
        return Ok(());
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[body_end..]);
    if CRC64.checksum(&payload[..body_end]) != u64::from_le_bytes(crc) {
        return Err(PayloadError::Footer);
    }
    Ok(())
}

/// Verifies and decodes a DUMP payload, checking the value as `sanitize`
/// says.
pub fn restore_value(
    payload: &[u8],
    skip_checksum: bool,
    sanitize: Sanitize,
) -> Result<RdbValue, PayloadError> {
    verify_payload(payload, skip_checksum)?;
    // Redis parses from the whole payload, footer included: a value that
    // claims more bytes than its body has runs into the footer rather
    // than failing, and bytes after the value are ignored.
    let mut r = Reader::for_payload(payload).with_sanitize(sanitize);
    r.payload_value().map_err(PayloadError::Data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips() {
        let v = RdbValue::String(b"hello".to_vec());
        assert_eq!(
            restore_value(&dump_value(&v), false, Sanitize::default()),
            Ok(v)
        );
    }

    #[test]
    fn footer_and_data_errors() {
        let restore = |p: &[u8]| restore_value(p, false, Sanitize::default());
        let mut p = dump_value(&RdbValue::String(b"hello".to_vec()));
        assert_eq!(restore(&p[..5]), Err(PayloadError::Footer));
        let n = p.len();
        p[n - 10] = 11;
        assert_eq!(restore(&p), Err(PayloadError::Footer));
        p[n - 10] = 10;
        p[n - 1] ^= 1;
        assert_eq!(restore(&p), Err(PayloadError::Footer));
        p[n - 1] ^= 1;
        assert!(restore(&p).is_ok());
        // A valid footer over an unknown type byte.
        let mut bad = vec![0x63, 0x00];
        bad.extend_from_slice(&10u16.to_le_bytes());
        let crc = CRC64.checksum(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(restore(&bad), Err(PayloadError::Data(_))));
        let empty = restore(&dump_value(&RdbValue::List(vec![])));
        assert!(
            matches!(&empty, Err(PayloadError::Data(e)) if e.kind == crate::ErrorKind::EmptyKey),
            "{empty:?}"
        );
    }
}

/// Why a FUNCTION RESTORE payload was refused (Redis's texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionsPayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    #[error("can not read data type")]
    ReadType,
    #[error("given type is not a function")]
    NotFunction,
    #[error("failed loading the given functions payload")]
    Load,
}

/// FUNCTION DUMP: every library as a `FUNCTION2` record, then the footer.
pub fn dump_functions(codes: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::for_payload(Vec::new(), true);
    let written: std::io::Result<()> = codes.iter().try_for_each(|c| w.function(c));
    // Writing to a Vec cannot fail.
    written.and_then(|_| w.finish_payload()).unwrap_or_default()
}

/// FUNCTION RESTORE: the libraries' codes in a payload (`skip_checksum`
/// as for [`verify_payload`]).
pub fn restore_functions(
    payload: &[u8],
    skip_checksum: bool,
) -> Result<Vec<Vec<u8>>, FunctionsPayloadError> {
    verify_payload(payload, skip_checksum).map_err(|_| FunctionsPayloadError::Footer)?;
    let body = &payload[..payload.len() - FOOTER];
    let mut r = Reader::for_payload(body);
    let mut codes = Vec::new();
    while (r.offset() as usize) < body.len() {
        let t = r
            .next_type_byte()
            .map_err(|_| FunctionsPayloadError::ReadType)?;
        if t != 0xF5 {
            return Err(FunctionsPayloadError::NotFunction);
        }
        codes.push(r.next_string().map_err(|_| FunctionsPayloadError::Load)?);
    }
    Ok(codes)
}
