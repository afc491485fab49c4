"""Log in to the console with a key the Consortium lists (Sign-In with Ethereum, EIP-4361).

    GET  /console/login      the log-in page (zh-Hans and en): a wallet (EIP-1193
                             `personal_sign`) or the CLI's keystore file, unlocked in the page
    GET  /console/login.js   its script (verifier/web/src/login.js, bundled by esbuild)
    GET  /console/nonce      a fresh single-use nonce and the message's fields
    POST /console/login      {message, signature}: a session cookie, or 401 problem+json
    POST /console/logout     ends the session (303 to the log-in page)

The rules are in `gateway.sessions`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.deps import ServicesDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.scan_page import static_response
from gateway.sessions import (
    clear_cookie,
    issue_nonce,
    log_in,
    log_out,
    own_origin,
    require_same_origin,
    set_cookie,
)

__all__ = ["LOGIN_PAGE", "router"]

router = APIRouter(tags=["Console"])

_NO_STORE = {"Cache-Control": "no-store"}


class LoginBody(BaseModel):
    message: Annotated[str, Field(max_length=4096, description="the EIP-4361 message signed")]
    signature: Annotated[str, Field(max_length=200,
                                    description="0x r‖s‖v, EIP-191 personal_sign of message")]


@router.get("/console/login", summary="Console log-in page", response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    return HTMLResponse(LOGIN_PAGE, headers=_NO_STORE)


@router.get("/console/login.js", summary="Console log-in page: its script",
            include_in_schema=False)
async def login_script(request: Request) -> Response:
    return static_response(request, "login.js")


@router.get("/console/nonce", summary="A single-use log-in nonce and the message's fields")
async def nonce(request: Request, services: ServicesDep, settings: SettingsDep) -> JSONResponse:
    origin = own_origin(request, settings)
    fields = await run_in_threadpool(issue_nonce, services, origin, settings)
    return JSONResponse(fields, headers=_NO_STORE)


@router.post("/console/login", summary="Log in with a signed SIWE message",
             responses=problem_responses(400, 401, 403))
async def login(request: Request, body: LoginBody, services: ServicesDep,
                settings: SettingsDep) -> JSONResponse:
    origin = own_origin(request, settings)
    require_same_origin(request, origin)
    session_id, session = await run_in_threadpool(
        lambda: log_in(services, origin, settings, message=body.message,
                       signature=body.signature))
    response = JSONResponse({"org": session.org_hex, "name": session.name,
                             "signer": session.signer, "roles": sorted(session.roles)},
                            headers=_NO_STORE)
    set_cookie(response, origin, session_id, session)
    return response


@router.post("/console/logout", summary="End the console session (then to the log-in page)",
             status_code=303, responses=problem_responses(403))
async def logout(request: Request, services: ServicesDep, settings: SettingsDep) -> Response:
    origin = own_origin(request, settings)
    require_same_origin(request, origin)
    await run_in_threadpool(log_out, request, services, origin)
    response = RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    clear_cookie(response, origin)
    return response


LOGIN_PAGE = """<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Zhenzhi console · 真知控制台</title>
<style>
*{box-sizing:border-box}body{font:15px/1.5 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
main{max-width:560px;margin:1.5rem auto;padding:0 1rem}
section{background:#fff;border-radius:8px;padding:1rem 1.2rem;margin:0 0 1rem;
box-shadow:0 1px 2px #0001}h2{font-size:1rem;margin:0 0 .6rem}
label{display:block;margin:.4rem 0 .2rem;font-size:.9rem}input{width:100%;padding:.4rem}
button{margin-top:.7rem;padding:.5rem 1rem;font:inherit;border:0;border-radius:6px;
background:#1d2330;color:#fff;cursor:pointer}button[disabled]{opacity:.5}
#status{min-height:1.5em}#status.error{color:#c62828}small{color:#666}
nav{float:right}nav a{color:#fff;margin-left:.6rem}
</style></head>
<body><header><nav><a href="?lang=zh-Hans">中文</a><a href="?lang=en">English</a></nav>
<h1 data-i18n="title">真知控制台 · 登录</h1></header>
<main>
<p data-i18n="intro">用贵单位在联盟登记的签名密钥登录。不存储任何密码；密钥不会离开本浏览器。</p>
<section id="wallet"><h2 data-i18n="walletTitle">浏览器钱包</h2>
<p><small data-i18n="walletHint">MetaMask、Rabby 或通过它们连接的硬件钱包（EIP-1193）。</small></p>
<button id="wallet-login" type="button" data-i18n="walletButton">用钱包登录</button></section>
<section id="keystore"><h2 data-i18n="keystoreTitle">密钥文件</h2>
<p><small data-i18n="keystoreHint">命令行使用的加密密钥文件（var/keys/*.json），在本页内解锁。</small></p>
<form id="keystore-form">
<label for="keyfile" data-i18n="fileLabel">密钥文件</label><input id="keyfile" type="file" accept=".json,application/json" required>
<label for="passphrase" data-i18n="passLabel">口令</label><input id="passphrase" type="password" autocomplete="current-password" required>
<button id="keystore-login" type="submit" data-i18n="keystoreButton">解锁并登录</button></form></section>
<p id="status" role="status" aria-live="polite"></p>
</main><script src="/console/login.js"></script></body></html>
"""
