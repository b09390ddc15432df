//! Any redis.conf text must load or be refused with a line number and a
//! reason, never panic; whatever loads must render (`CONFIG GET`) and
//! parse back through `CONFIG SET`'s path without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::config::{self, table::DIRECTIVES, Config};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse_text(&text) {
        Err(e) => {
            assert!(e.line_no > 0);
            let _ = e.to_string();
        }
        Ok(cfg) => {
            for (i, d) in DIRECTIVES.iter().enumerate() {
                let shown = cfg.render(i);
                let args = config::set_args(d, &shown);
                let _ = config::parse::parse_value(d, &args, cfg.value(i));
            }
        }
    }
});
