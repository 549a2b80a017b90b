//! `register`, `login`, `logout`, `whoami`.

use anyhow::{Context, Result};
use ferry_client::{ClientError, HttpApi, LoginResponse};
use ferry_core::ErrorCode;

use super::{Ctx, PLATFORM};
use crate::profile::Profile;

/// Creates the account, logs in and saves the profile.
pub async fn register(ctx: &Ctx, user: &str, password: Option<String>, display_name: Option<&str>) -> Result<()> {
    let password = password_from(password)?;
    let http = HttpApi::new(ctx.login_server())?;
    let created = http.register(user, &password, display_name).await?;
    let login = http.login(&created.username, &password, PLATFORM, None).await?;
    save_login(ctx, &http, login, false)?;
    println!("registered {} (id {}) and logged in [profile {}]", created.username, created.id, ctx.profile);
    Ok(())
}

/// Logs in and saves the profile. On a profile already used by the same
/// user on the same server, the device id is reused so the old session is
/// replaced rather than piled up.
pub async fn login(ctx: &Ctx, user: &str, password: Option<String>) -> Result<()> {
    let password = password_from(password)?;
    let http = HttpApi::new(ctx.login_server())?;
    let previous = ctx.store.load(&ctx.profile)?;
    let device = previous
        .as_ref()
        .filter(|p| p.server == http.base_url() && p.username.eq_ignore_ascii_case(user.trim()))
        .map(|p| p.device_id.clone());
    let login = http.login(user, &password, PLATFORM, device.as_deref()).await?;
    let same_device = device.as_deref() == Some(login.device_id.as_str());
    let name = login.user.username.clone();
    let id = login.user.id;
    save_login(ctx, &http, login, same_device)?;
    println!("logged in as {name} (id {id}) [profile {}]", ctx.profile);
    Ok(())
}

/// Revokes the session on the server and forgets the token (the device id
/// and seqs stay for the next login).
pub async fn logout(ctx: &Ctx) -> Result<()> {
    let (mut profile, http) = ctx.session()?;
    match http.logout().await {
        // Already revoked (kicked, expired): logging out locally is all that is left.
        Err(ClientError::Api(e)) if e.code == ErrorCode::Unauthenticated => {}
        other => other?,
    }
    profile.token = None;
    ctx.save(&profile)?;
    println!("logged out {} [profile {}]", profile.username, ctx.profile);
    Ok(())
}

/// Prints who the profile's token belongs to, as the server sees it.
pub async fn whoami(ctx: &Ctx) -> Result<()> {
    let (_, http) = ctx.session()?;
    let me = http.me().await?;
    println!(
        "{} (id {}) device {} platform {} on {}",
        me.user.username,
        me.user.id,
        me.device_id,
        me.platform,
        http.base_url()
    );
    Ok(())
}

/// Stores a fresh login. Seqs carry over only when it is the same device
/// (a new device has seen nothing yet).
fn save_login(ctx: &Ctx, http: &HttpApi, login: LoginResponse, same_device: bool) -> Result<()> {
    let known_seqs = match ctx.store.load(&ctx.profile)? {
        Some(old) if same_device => old.known_seqs,
        _ => Default::default(),
    };
    let profile = Profile {
        server: http.base_url().to_owned(),
        username: login.user.username,
        user_id: login.user.id,
        token: Some(login.token),
        device_id: login.device_id,
        known_seqs,
    };
    ctx.save(&profile)
}

/// `--password`, else `$FERRY_PASSWORD`, else a no-echo prompt.
fn password_from(flag: Option<String>) -> Result<String> {
    if let Some(pw) = flag {
        return Ok(pw);
    }
    if let Ok(pw) = std::env::var("FERRY_PASSWORD") {
        return Ok(pw);
    }
    rpassword::prompt_password("password: ").context("reading the password (or set FERRY_PASSWORD)")
}
