"""The LINE Messaging API fake behaves like the real API, seen through line-bot-sdk v3."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from tests.fakes.line_api import FakeLineApi
from tests.fakes.line_webhook import group_id, user_id

ANN = user_id()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLineApi]:
    api = FakeLineApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def sdk(fake: FakeLineApi) -> AsyncIterator[AsyncMessagingApi]:
    client = AsyncApiClient(Configuration(access_token=fake.access_token, host=fake.base_url))
    yield AsyncMessagingApi(client)
    await client.close()


def body(exc: ApiException) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(exc.body)
    return loaded


async def test_bad_token_is_401(fake: FakeLineApi) -> None:
    client = AsyncApiClient(Configuration(access_token="wrong", host=fake.base_url))
    try:
        with pytest.raises(ApiException) as err:
            await AsyncMessagingApi(client).push_message(
                PushMessageRequest(to=ANN, messages=[TextMessage(text="x")])
            )
    finally:
        await client.close()
    assert err.value.status == 401
    assert str(body(err.value)["message"]).startswith("Authentication failed")
    assert err.value.headers is not None and err.value.headers.get("X-Line-Request-Id")


async def test_reply_tokens_are_single_use_and_expire(
    fake: FakeLineApi, sdk: AsyncMessagingApi
) -> None:
    token = fake.issue_reply_token(ANN)
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="hi")])
    sent = await sdk.reply_message(request)
    assert len(sent.sent_messages) == 1
    for t in (token, fake.issue_reply_token(ANN, age_s=61), "never-issued"):
        with pytest.raises(ApiException) as err:
            await sdk.reply_message(
                ReplyMessageRequest(reply_token=t, messages=[TextMessage(text="hi")])
            )
        assert err.value.status == 400 and body(err.value) == {"message": "Invalid reply token"}
    assert [d.via for d in fake.to(ANN)] == ["reply"]


async def test_push_retry_key_is_accepted_once(fake: FakeLineApi, sdk: AsyncMessagingApi) -> None:
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=ANN, messages=[TextMessage(text="once")])
    await sdk.push_message(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as err:
        await sdk.push_message(request, x_line_retry_key=key)
    assert err.value.status == 409
    assert err.value.headers is not None and err.value.headers.get("X-Line-Accepted-Request-Id")
    assert len(fake.to(ANN)) == 1


async def test_bodies_are_validated_with_details(fake: FakeLineApi, sdk: AsyncMessagingApi) -> None:
    # What the SDK already refuses client-side is sent raw, as another client could.
    button = {"type": "button", "action": {"type": "postback", "label": "OK", "data": "a" * 301}}
    flex = {
        "type": "flex",
        "altText": "x",
        "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical", "contents": [button]},
        },
    }
    headers = {"Authorization": f"Bearer {fake.access_token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        url = fake.base_url + "/v2/bot/message/push"
        async with s.post(url, json={"to": ANN, "messages": [flex] * 6}) as resp:
            six = resp.status, await resp.json()
        async with s.post(url, json={"to": ANN, "messages": [flex]}) as resp:
            long_data = resp.status, await resp.json()
        async with s.post(url, data="{not json", headers={"Content-Type": "application/json"}) as r:
            broken = r.status, await r.json()
    assert six == (
        400,
        {
            "message": "The request body has 1 error(s)",
            "details": [{"message": "Size must be between 1 and 5", "property": "messages"}],
        },
    )
    assert long_data[1]["details"] == [
        {
            "message": "Length must be between 1 and 300",
            "property": "messages[0].contents.body.contents[0].action.data",
        }
    ]
    assert broken[0] == 400 and "could not be parsed as JSON" in broken[1]["message"]
    with pytest.raises(ApiException) as err:
        await sdk.multicast(
            MulticastRequest(to=[group_id()], messages=[TextMessage(text="groups are not users")])
        )
    assert err.value.status == 400
    assert fake.delivered == []


async def test_quota_and_scripted_errors(fake: FakeLineApi, sdk: AsyncMessagingApi) -> None:
    fake.quota = 2
    await sdk.multicast(MulticastRequest(to=[ANN, user_id()], messages=[TextMessage(text="a")]))
    with pytest.raises(ApiException) as err:
        await sdk.push_message(PushMessageRequest(to=ANN, messages=[TextMessage(text="b")]))
    assert err.value.status == 429
    assert body(err.value) == {"message": "You have reached your monthly limit."}
    quota = await sdk.get_message_quota()
    usage = await sdk.get_message_quota_consumption()
    assert (quota.type, quota.value, usage.total_usage) == ("limited", 2, 2)
    fake.script_error("reply", 403, "Access to this API is not available for your account")
    with pytest.raises(ApiException) as err:
        await sdk.reply_message(
            ReplyMessageRequest(
                reply_token=fake.issue_reply_token(ANN), messages=[TextMessage(text="x")]
            )
        )
    assert err.value.status == 403
