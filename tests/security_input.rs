//! Bad input: the parsers that read bytes a test or a sandbox controls — the channel's
//! message decoding, the Docker/OCI profile reader, the attribute value parsers — never
//! panic on anything, and a malformed channel message is never a pass. End to end, a body
//! writing garbage on its channel is `tests/security_faults.rs`.

use std::io::Write;

use proptest::prelude::*;
use sandbox_test::__private::decode_channel_packet;
use sandbox_test::seccomp::profile;
use sandbox_test_spec as spec;

/// What a body really sends when it passes.
const PASS: &[u8] = br#"{"Verdict":"Passed"}"#;

/// Real messages, as templates for mutations.
const MESSAGES: [&str; 6] = [
    r#"{"Verdict":"Passed"}"#,
    r#"{"Verdict":{"Panicked":{"message":"m","location":null,"backtrace":null}}}"#,
    r#"{"BodyExited":{"Code":0}}"#,
    r#"{"SandboxExited":{"Signal":{"signal":9,"core_dumped":false}}}"#,
    r#"{"Note":"hello"}"#,
    r#"{"Spawned":{"pid":7}}"#,
];

#[test]
fn the_real_pass_message_decodes_as_a_pass() {
    assert_eq!(decode_channel_packet(PASS), Ok(true));
    assert_eq!(decode_channel_packet(MESSAGES[2].as_bytes()), Ok(false));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_packets_never_panic_and_are_rarely_messages(packet in proptest::collection::vec(any::<u8>(), 0..512)) {
        let decoded = decode_channel_packet(&packet);
        // Random bytes that happen to spell the pass message are the pass message.
        if decoded == Ok(true) {
            prop_assert!(std::str::from_utf8(&packet).is_ok_and(|text| text.contains("Passed")));
        }
    }

    #[test]
    fn every_cut_or_flipped_message_is_garbled_or_another_message(
        which in 0..MESSAGES.len(),
        cut in 0usize..120,
        flip in proptest::option::of((0usize..120, any::<u8>())),
    ) {
        let mut packet = MESSAGES[which].as_bytes().to_vec();
        let whole = packet.clone();
        packet.truncate(cut.min(packet.len()));
        if let Some((at, byte)) = flip {
            if let Some(slot) = packet.get_mut(at) {
                *slot = byte;
            }
        }
        match decode_channel_packet(&packet) {
            // A strict prefix of a JSON object is never a whole one.
            Ok(_) if packet.len() < whole.len() => prop_assert!(false, "a cut message decoded: {:?}", String::from_utf8_lossy(&packet)),
            Ok(true) => prop_assert!(whole == PASS, "{:?} became a pass", String::from_utf8_lossy(&packet)),
            Ok(false) | Err(_) => {}
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_profile_reader(text in profile_like()) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        if let Ok(parsed) = profile::read(file.path()) {
            let _ = parsed.evaluate(file.path(), &profile::Environment::sandbox());
        }
    }

    #[test]
    fn attribute_value_parsers_never_panic(text in "\\PC{0,40}") {
        let _ = spec::duration::parse_duration(&text);
        let _ = spec::size::parse_size(&text);
        let _ = spec::path::parse_absolute_path(&text);
        let _ = spec::bind::parse_bind(&text);
        let _ = spec::hostname::check_hostname(&text);
        let _ = spec::seccomp::parse_errno(&text);
        let _ = spec::seccomp::OnViolation::parse(&text);
        let _ = spec::seccomp::SyscallItem::parse(&text);
        let _ = spec::host_socket::HostSocket::parse(&text);
        let _ = text.parse::<spec::net::NetMode>();
        let _ = spec::time::parse_realtime(&text);
        let _ = spec::time::parse_offset(&text);
        let _ = spec::time::parse_instant(&text);
    }

    #[test]
    fn numeric_looking_values_never_panic(
        number in any::<i64>(),
        unit in prop::sample::select(vec!["", "ms", "s", "m", "h", "d", "K", "M", "G", "T", "E", "y"]),
        sign in prop::sample::select(vec!["", "+", "-", "--"]),
    ) {
        let text = format!("{sign}{number}{unit}");
        let _ = spec::duration::parse_duration(&text);
        let _ = spec::size::parse_size(&text);
        let _ = spec::time::parse_offset(&text);
        let _ = spec::time::parse_realtime(&text);
        let _ = spec::time::parse_instant(&format!("{number}-01-01T00:00:00Z"));
    }
}

/// JSON-shaped text around the profile format's own keys and values, so that the reader's
/// deeper paths are reached, not only its first parse error.
fn profile_like() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "\"defaultAction\"",
        "\"SCMP_ACT_ERRNO\"",
        "\"SCMP_ACT_ALLOW\"",
        "\"SCMP_ACT_TRACE\"",
        "\"syscalls\"",
        "\"names\"",
        "\"name\"",
        "\"action\"",
        "\"args\"",
        "\"index\"",
        "\"value\"",
        "\"valueTwo\"",
        "\"op\"",
        "\"SCMP_CMP_MASKED_EQ\"",
        "\"errnoRet\"",
        "\"defaultErrnoRet\"",
        "\"architectures\"",
        "\"archMap\"",
        "\"includes\"",
        "\"excludes\"",
        "\"minKernel\"",
        "\"caps\"",
        "\"arches\"",
        "\"flags\"",
        "\"read\"",
        "\"getppid\"",
        "\"4.99999999999\"",
        "\"x.y\"",
        "18446744073709551615",
        "-1",
        "7",
        "1e400",
        "null",
        "true",
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
    ]);
    prop_oneof![
        proptest::collection::vec(word, 0..60).prop_map(|words| words.concat()),
        "\\PC{0,200}",
    ]
}
