//! `/proc/self/mountinfo`: the mounts of the caller's mount namespace.

use std::io;
use std::path::PathBuf;

/// One line of `/proc/<pid>/mountinfo` (see proc_pid_mountinfo(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Unique id of the mount (matches `statx(STATX_MNT_ID)`).
    pub mount_id: u64,
    /// The mount's root: the path inside its filesystem that is mounted.
    pub root: PathBuf,
    /// Where it is mounted, relative to the caller's root.
    pub mount_point: PathBuf,
    /// Filesystem type (`ext4`, `tmpfs`, `cgroup2`, ...).
    pub fs_type: String,
}

/// Reads the mounts of the caller's mount namespace.
pub fn read() -> io::Result<Vec<MountInfo>> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo")?)
}

/// Parses the text of a mountinfo file.
pub fn parse(text: &str) -> io::Result<Vec<MountInfo>> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> io::Result<MountInfo> {
    let malformed = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed mountinfo line: {line}"),
        )
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .position(|field| *field == "-")
        .ok_or_else(malformed)?;
    if separator < 6 || fields.len() < separator + 2 {
        return Err(malformed());
    }
    Ok(MountInfo {
        mount_id: fields[0].parse().map_err(|_| malformed())?,
        root: PathBuf::from(unescape(fields[3])),
        mount_point: PathBuf::from(unescape(fields[4])),
        fs_type: unescape(fields[separator + 1]),
    })
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
40 22 0:33 /user.slice /mnt/with\\040space rw - tmpfs none rw
";

    #[test]
    fn parses_fields_and_unescapes() {
        let mounts = parse(SAMPLE).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_id, 22);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/"));
        assert_eq!(mounts[1].fs_type, "cgroup2");
        assert_eq!(mounts[1].mount_point, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(mounts[2].root, PathBuf::from("/user.slice"));
        assert_eq!(mounts[2].mount_point, PathBuf::from("/mnt/with space"));
    }

    #[test]
    fn refuses_malformed_lines() {
        assert!(parse("1 2 3").is_err());
        assert!(parse("x 1 8:1 / / rw - ext4 /dev/sda1 rw").is_err());
    }

    #[test]
    fn reads_own_namespace() {
        let mounts = read().unwrap();
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
