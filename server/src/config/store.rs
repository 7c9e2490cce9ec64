//! Every Redis 7 configuration parameter by name, for CONFIG GET/SET and config files.
//! (A minimal version: the full parameter table replaces it.)

use super::Settings;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct ConfigStore {
    values: BTreeMap<String, String>,
}

impl ConfigStore {
    pub fn defaults() -> Self {
        let mut values = BTreeMap::new();
        for (k, v) in [
            ("port", "6379"),
            ("bind", "127.0.0.1"),
            ("databases", "16"),
            ("maxclients", "10000"),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("slowlog-log-slower-than", "10000"),
            ("slowlog-max-len", "128"),
            ("timeout", "0"),
            ("save", ""),
            ("appendonly", "no"),
        ] {
            values.insert(k.to_string(), v.to_string());
        }
        ConfigStore { values }
    }

    pub fn get(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let pattern = String::from_utf8_lossy(pattern).to_ascii_lowercase();
        self.values
            .iter()
            .filter(|(k, _)| **k == pattern)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn set(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
        for (name, value) in pairs {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            if !self.values.contains_key(&name) {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            }
            self.values
                .insert(name, String::from_utf8_lossy(value).into_owned());
        }
        Ok(())
    }

    pub fn settings(&self) -> Settings {
        let num = |k: &str, d: u64| self.values.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        Settings {
            proto_max_bulk_len: num("proto-max-bulk-len", 512 << 20),
            client_query_buffer_limit: num("client-query-buffer-limit", 1 << 30),
            maxclients: num("maxclients", 10000),
            slowlog_log_slower_than_us: num("slowlog-log-slower-than", 10000) as i64,
            slowlog_max_len: num("slowlog-max-len", 128),
            timeout_s: num("timeout", 0),
        }
    }
}

impl ConfigStore {
    /// Reads a redis.conf-style file: `name value...` per line, `#` comments.
    pub fn load_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut store = ConfigStore::defaults();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            store
                .set(&[(
                    name.as_bytes().to_vec(),
                    value.trim().trim_matches('"').as_bytes().to_vec(),
                )])
                .map_err(|e| format!("line {}: {e}", number + 1))?;
        }
        Ok(store)
    }
}
