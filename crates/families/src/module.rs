//! MODULE: Redoubt loads no modules. LIST shows none; LOAD, LOADEX and
//! UNLOAD answer as Redis does when loading fails or no such module
//! exists — after the `enable-module-command` gate, which Redis checks
//! first, so operators see the same refusal on both servers.

use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("module|list", module_list),
    ("module|load", module_load),
    ("module|loadex", module_load),
    ("module|unload", module_unload),
    ("module|help", module_help),
];

/// `enable-module-command`: `yes`, or `local` from a loopback peer (Redis
/// compares the address with 127.0.0.1 and ::1).
fn module_allowed(ctx: &Ctx) -> bool {
    match ctx
        .srv
        .config
        .get_str(Directive::EnableModuleCommand)
        .as_str()
    {
        "yes" => true,
        "local" => ctx.client.addr.is_none_or(server::net::is_local),
        _ => false,
    }
}

fn module_list(ctx: &mut Ctx) {
    ctx.out().array(0);
}

fn module_load(ctx: &mut Ctx) {
    if !module_allowed(ctx) {
        return ctx.err(errors::MODULE_NOT_ALLOWED);
    }
    server::log_warning!(
        "Module {} failed to load: Redoubt does not load modules",
        String::from_utf8_lossy(ctx.argv.get(2))
    );
    ctx.err(errors::MODULE_LOAD_FAILED)
}

fn module_unload(ctx: &mut Ctx) {
    if !module_allowed(ctx) {
        return ctx.err(errors::MODULE_NOT_ALLOWED);
    }
    ctx.err(errors::MODULE_NO_SUCH)
}

fn module_help(ctx: &mut Ctx) {
    crate::client::help_reply(
        ctx,
        "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LIST",
            "    The loaded modules (none: Redoubt has no module support).",
            "LOAD <path> [<arg> ...]",
            "    Load a module library (always fails here).",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library with configuration (always fails here).",
            "UNLOAD <name>",
            "    Unload a module by name.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn module_commands_are_gated_then_fail_as_redis() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["MODULE", "LIST"]), "*0\r\n");
        assert!(k
            .run(&["MODULE", "LOAD", "/x"])
            .starts_with("-ERR MODULE command not allowed."));
        let _ = k.srv.config.set("enable-module-command", &["yes".into()]);
        assert_eq!(
            k.run(&["MODULE", "LOAD", "/x"]),
            "-ERR Error loading the extension. Please check the server logs.\r\n"
        );
        assert_eq!(
            k.run(&["MODULE", "UNLOAD", "x"]),
            "-ERR Error unloading module: no such module with that name\r\n"
        );
    }
}
