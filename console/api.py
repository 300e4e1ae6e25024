"""The agent's work over REST: conversations (list, detail, reply, transfer, escalate, resolve), merges, presence.

Mounted under /api/v1/ by contactcenter.api.urls. Every view parses its input,
calls the same action or query as the console (agents/conversation_views.py),
and renders; domain errors leave through the API's one exception handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.actions import do_set_presence
from agents.models import AwayReason, Presence
from agents.queries import profile_of
from core.actions import (
    check_escalate_conversation,
    check_reopen_conversation,
    check_resolve_conversation,
    do_merge_contacts,
)
from core.email_options import EmailReplyOptions, ReplyFile, check_attachment_limits
from core.errors import NotFound
from core.models import (
    Attachment,
    Channel,
    Contact,
    ContactMerge,
    Conversation,
    ConversationState,
    Delivery,
    Disposition,
    Event,
    Message,
    Platform,
    Sentiment,
)
from core.queries import (
    access_conversation,
    access_worked_conversation,
    conversation_thread,
    conversation_timeline,
    visible_conversations,
)
from core.rest.ids import IdField
from core.rest.pagination import NewestFirstCursorPagination
from core.rest.permissions import IsAgent, IsSupervisor
from core.rest.schema import error_responses
from responses.actions import do_send_reply
from routing.actions import check_transfer_conversation

TAGS = ["conversations"]


def _user(request: Request) -> User:
    return cast(User, request.user)  # every view here requires a Switchboard role


# --- Shared output shapes ------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class QueueRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation as lists show it."""

    queue = QueueRefSerializer(allow_null=True)
    contact = ContactRefSerializer()
    assigned_agent = UserRefSerializer(allow_null=True)
    sentiment = serializers.ChoiceField(choices=Sentiment.choices, allow_blank=True, help_text="Empty: not analysed.")

    class Meta:
        model = Conversation
        fields = [
            "id",
            "state",
            "channel",
            "queue",
            "priority",
            "category",
            "sentiment",
            "language",
            "contact",
            "assigned_agent",
            "waiting_since",
            "first_response_due",
            "first_response_at",
            "sla_status",
            "escalated",
            "created_at",
            "subject",
        ]
        read_only_fields = fields


class MessageAuthorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["agent", "customer"])
    id = serializers.IntegerField(help_text="The agent's user id, or the customer's identity id.")
    name = serializers.CharField(help_text="The agent's username, or the customer's handle (or display name).")


class MessageFileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField(help_text="As the sender said; downloads are sent as passive types only.")
    size = serializers.IntegerField(help_text="Bytes.")
    inline = serializers.BooleanField(help_text="An image the mail showed inline (cid:); listed as a file here.")
    dropped_reason = serializers.CharField(help_text="Why the file was not stored (too large...); empty: stored.")


class MessageEmailSerializer(serializers.Serializer):
    """What an email said about itself (inbound), or the subject and CC a reply of ours was written with."""

    subject = serializers.CharField(
        allow_blank=True, help_text="Our reply's, if the agent set one (else it goes as Re: the customer's)."
    )
    from_address = serializers.CharField(allow_blank=True, help_text="Inbound only.")
    from_name = serializers.CharField(allow_blank=True, help_text="Inbound only.")
    to = serializers.ListField(child=serializers.CharField(), help_text="Inbound: as stored (the first 100).")
    cc = serializers.ListField(child=serializers.CharField())
    recipient_count = serializers.IntegerField(help_text="Inbound: all To and CC recipients, stored or not.")
    auto = serializers.CharField(allow_blank=True, help_text="auto_reply, bounce, bulk; empty: a person wrote it.")


def _email_summary(message: Message) -> dict[str, Any] | None:
    if message.platform != Platform.EMAIL:
        return None
    raw = message.raw.get("email") if isinstance(message.raw, dict) else None
    email: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def text(key: str) -> str:
        value = email.get(key)
        return value if isinstance(value, str) else ""

    def addresses(key: str) -> list[str]:
        value = email.get(key)
        return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

    count = email.get("recipient_count")
    return {
        "subject": text("subject"),
        "from_address": text("from"),
        "from_name": text("from_name"),
        "to": addresses("to"),
        "cc": addresses("cc"),
        "recipient_count": count if isinstance(count, int) and not isinstance(count, bool) else 0,
        "auto": text("auto"),
    }


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    delivery = serializers.ChoiceField(
        choices=Delivery.choices, allow_blank=True, help_text="Empty for the customer's messages: not ours to post."
    )
    delivery_error = serializers.CharField(
        help_text="Why our reply failed (a bounce says why), or was rejected; empty otherwise."
    )
    email = serializers.SerializerMethodField(help_text="Email messages only; null on the other channels.")
    files = serializers.SerializerMethodField(
        help_text="Attachments (email). Download them in the console: /conversations/{id}/attachments/{file id}/."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "text",
            "sent_at",
            "author",
            "delivery",
            "delivery_error",
            "external_id",
            "email",
            "files",
        ]
        read_only_fields = fields

    @extend_schema_field(MessageEmailSerializer(allow_null=True))
    def get_email(self, message: Message) -> dict[str, Any] | None:
        return _email_summary(message)

    @extend_schema_field(MessageFileSerializer(many=True))
    def get_files(self, message: Message) -> Any:
        return MessageFileSerializer(message.files.all(), many=True).data

    @extend_schema_field(MessageAuthorSerializer(allow_null=True))
    def get_author(self, message: Message) -> dict[str, Any] | None:
        if message.author_agent is not None:
            return {"kind": "agent", "id": message.author_agent.pk, "name": message.author_agent.get_username()}
        if message.author_identity is not None:
            identity = message.author_identity
            return {"kind": "customer", "id": identity.pk, "name": identity.handle or identity.display_name}
        return None


class TimelineEventSerializer(serializers.ModelSerializer):
    agent = UserRefSerializer(allow_null=True)

    class Meta:
        model = Event
        fields = ["kind", "at", "agent", "value_seconds"]
        read_only_fields = fields


# --- Conversations -------------------------------------------------------------------


class ConversationListView(generics.ListAPIView[Conversation]):
    """The caller's visible conversations, newest first, filtered and cursor-paginated."""

    permission_classes = [IsAgent]
    serializer_class = ConversationSerializer

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=ConversationState.choices, required=False)
        queue = IdField(required=False, help_text="Queue id.")
        channel = serializers.ChoiceField(choices=Channel.choices, required=False)
        assigned_agent = IdField(required=False, help_text="The assigned agent's user id.")
        # allow_null: a query string without it means "either", not False.
        escalated = serializers.BooleanField(required=False, allow_null=True)
        created_after = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601).")
        created_before = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601).")

    LOOKUPS = {
        "state": "state",
        "queue": "queue_id",
        "channel": "channel",
        "assigned_agent": "assigned_agent_id",
        "escalated": "escalated",
        "created_after": "created_at__gte",
        "created_before": "created_at__lt",
    }

    def get_queryset(self) -> QuerySet[Conversation]:
        params = self.FilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        filters = {self.LOOKUPS[name]: value for name, value in params.validated_data.items() if value is not None}
        conversations = visible_conversations(self.request.user).filter(**filters)
        return conversations.select_related("queue", "contact", "assigned_agent")

    @extend_schema(
        operation_id="conversations_list",
        tags=TAGS,
        summary="List conversations",
        description="Supervisors see every conversation; an agent sees those that are, or were last, theirs.",
        parameters=[FilterSerializer],
        responses={200: ConversationSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationDetailView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="ConversationDetail")
    class OutputSerializer(ConversationSerializer):
        messages = serializers.SerializerMethodField(help_text="The thread, oldest first.")
        timeline = serializers.SerializerMethodField(help_text="The conversation's ledger rows, oldest first.")

        class Meta(ConversationSerializer.Meta):
            fields = [*ConversationSerializer.Meta.fields, "messages", "timeline"]
            read_only_fields = fields

        @extend_schema_field(MessageSerializer(many=True))
        def get_messages(self, conversation: Conversation) -> Any:
            return MessageSerializer(conversation_thread(conversation), many=True).data

        @extend_schema_field(TimelineEventSerializer(many=True))
        def get_timeline(self, conversation: Conversation) -> Any:
            return TimelineEventSerializer(conversation_timeline(conversation), many=True).data

    @extend_schema(
        operation_id="conversations_retrieve",
        tags=TAGS,
        summary="A conversation with its messages and timeline",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(request.user, conversation_id)
        return Response(self.OutputSerializer(conversation).data)


class ThreadCursorPagination(NewestFirstCursorPagination):
    """A thread reads oldest first, in the order the conversation page shows it."""

    ordering = ("sent_at", "id")


class ConversationMessagesView(generics.ListAPIView[Message]):
    """A conversation's thread, oldest first, cursor-paginated; the same visibility as the conversation."""

    permission_classes = [IsAgent]
    serializer_class = MessageSerializer
    pagination_class = ThreadCursorPagination

    def get_queryset(self) -> QuerySet[Message]:
        conversation = access_conversation(self.request.user, self.kwargs["conversation_id"])
        files = Prefetch("files", queryset=Attachment.objects.defer("data"))
        return conversation.messages.select_related("author_identity", "author_agent").prefetch_related(files)

    @extend_schema(
        operation_id="conversations_messages_list",
        tags=TAGS,
        summary="A conversation's messages",
        description="Oldest first. Whoever may see the conversation may read its messages; anyone else gets 404.",
        responses={200: MessageSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema_field(OpenApiTypes.BINARY)
class UploadField(serializers.FileField):
    """A file part of a multipart request (a request's binary, not the URL a stored file would be shown as)."""


class ReplyCreateView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="ReplyRequest")
    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(help_text="The reply; checked against the platform's rules (length, window).")
        private = serializers.BooleanField(default=False, help_text="Answer in private (a DM) where possible.")
        # Values only (no labels): the same set as ResolveRequest.disposition would need an
        # ENUM_NAME_OVERRIDES entry in settings to share one schema name.
        resolve_with = serializers.ChoiceField(
            choices=Disposition.values,
            required=False,
            allow_blank=True,
            default="",
            help_text="Resolve the conversation with this disposition once the reply is queued.",
        )
        # Email only. Not trimmed here: a line break anywhere is refused by the reply's own check.
        subject = serializers.CharField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            help_text="Email only: at most 200 characters, no line breaks or other control characters. Omitted or "
            "blank: Re: and the customer's last subject. The conversation token ([#123]) is added when sent.",
        )
        cc = serializers.ListField(
            child=serializers.CharField(allow_blank=True, trim_whitespace=False),
            required=False,
            help_text="Email only: addresses to copy (Name <address> is accepted; the address is kept), at most 50 "
            "once duplicates and the customer's own address are removed.",
        )

    @extend_schema_serializer(component_name="ReplyWithFilesRequest")
    class MultipartInputSerializer(InputSerializer):
        attachments = serializers.ListField(
            child=UploadField(allow_empty_file=True),
            required=False,
            help_text="Email only: files to attach, one part each (at most EMAIL_REPLY_ATTACHMENT_MAX_FILES files, "
            "EMAIL_REPLY_ATTACHMENT_MAX_BYTES together; 10 and 10 MB by default).",
        )

    @extend_schema(
        operation_id="conversations_replies_create",
        tags=TAGS,
        summary="Reply to a conversation",
        description=(
            "Puts the reply in the outbox (`delivery: queued`), or holds it for a supervisor "
            "(`delivery: pending_approval`). Only the conversation's agent or a supervisor, while it is assigned "
            "or waiting. A reply the platform would refuse is a 400 with `fields.text`.\n\n"
            "On an email conversation the reply may carry a `subject` and `cc` (JSON or form), and files: send "
            "those as `multipart/form-data`, one `attachments` part per file (and `cc` once per address). A subject "
            "or address with a line break is refused (400, `fields.subject` / `fields.cc`), as are files over the "
            "limits (`fields.attachments`): nothing is stored then. On other channels these fields are a 400."
        ),
        request={"application/json": InputSerializer, "multipart/form-data": MultipartInputSerializer},
        responses={201: MessageSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(request.user, conversation_id)
        data = self.MultipartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        email = _email_options(fields.pop("subject", None), fields.pop("cc", None), fields.pop("attachments", None))
        message = do_send_reply(conversation, _user(request), **fields, email=email)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


def _email_options(subject: str | None, cc: list[str] | None, files: list[Any] | None) -> EmailReplyOptions | None:
    """The request's email fields as the reply's options; None when it has none (every other channel's reply)."""
    if subject is None and cc is None and not files:
        return None
    files = files or []
    check_attachment_limits([upload.size or 0 for upload in files])  # before reading them into memory
    return EmailReplyOptions(
        subject=subject,
        cc=tuple(cc or ()),
        attachments=tuple(
            ReplyFile(filename=upload.name or "", content_type=upload.content_type or "", data=upload.read())
            for upload in files
        ),
    )


def _conversation_action(
    request: Request,
    conversation_id: int,
    serializer: type[serializers.Serializer],
    act: Callable[[Request, Conversation, dict[str, Any]], None],
) -> Response:
    """The shape of every action on a conversation: may the caller work it, is the input valid, act, show it."""
    conversation = access_worked_conversation(request.user, conversation_id)
    data = serializer(data=request.data)
    data.is_valid(raise_exception=True)
    act(request, conversation, data.validated_data)
    return Response(ConversationSerializer(conversation).data)


class TransferView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="TransferRequest")
    class InputSerializer(serializers.Serializer):
        queue = IdField(required=False, help_text="Transfer to this queue's id...")
        agent = IdField(required=False, help_text="...or to this agent's user id.")
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        operation_id="conversations_transfer",
        tags=TAGS,
        summary="Transfer a conversation to a queue or an agent",
        description="Only the conversation's agent or a supervisor.",
        request=InputSerializer,
        responses={200: ConversationSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        return _conversation_action(request, conversation_id, self.InputSerializer, self.act)

    @staticmethod
    def act(request: Request, conversation: Conversation, data: dict[str, Any]) -> None:
        check_transfer_conversation(
            _user(request), conversation, queue_id=data.get("queue"), agent_id=data.get("agent"), reason=data["reason"]
        )


class EscalateView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="EscalateRequest")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, help_text="Why supervisors should look at it.")

    @extend_schema(
        operation_id="conversations_escalate",
        tags=TAGS,
        summary="Escalate a conversation to supervisors",
        description="Only the conversation's agent or a supervisor, while it is open.",
        request=InputSerializer,
        responses={200: ConversationSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        return _conversation_action(request, conversation_id, self.InputSerializer, self.act)

    @staticmethod
    def act(request: Request, conversation: Conversation, data: dict[str, Any]) -> None:
        check_escalate_conversation(_user(request), conversation, reason=data["reason"])


class ResolveView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="ResolveRequest")
    class InputSerializer(serializers.Serializer):
        disposition = serializers.ChoiceField(choices=Disposition.choices, help_text="How it ended.")

    @extend_schema(
        operation_id="conversations_resolve",
        tags=TAGS,
        summary="Resolve a conversation",
        description="Only the conversation's agent or a supervisor, while it is open.",
        request=InputSerializer,
        responses={200: ConversationSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        return _conversation_action(request, conversation_id, self.InputSerializer, self.act)

    @staticmethod
    def act(request: Request, conversation: Conversation, data: dict[str, Any]) -> None:
        check_resolve_conversation(_user(request), conversation, disposition=data["disposition"])


class ReopenView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="ReopenRequest")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        operation_id="conversations_reopen",
        tags=TAGS,
        summary="Reopen a resolved conversation",
        description=(
            "Back to its queue, waiting first for its last agent. Only the agent who had it last or a supervisor, "
            "while it is resolved."
        ),
        request=InputSerializer,
        responses={200: ConversationSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(request.user, conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check_reopen_conversation(_user(request), conversation, reason=data.validated_data["reason"])
        return Response(ConversationSerializer(conversation).data)


# --- Contacts and agents -------------------------------------------------------------


class ContactMergeMovedSerializer(serializers.Serializer):
    identities = serializers.ListField(child=serializers.IntegerField())
    conversations = serializers.ListField(child=serializers.IntegerField())


class ContactMergeView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="ContactMergeRequest")
    class InputSerializer(serializers.Serializer):
        into = serializers.PrimaryKeyRelatedField(
            queryset=Contact.objects.all(), help_text="The contact that stays; this one is folded into it."
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema_serializer(component_name="ContactMerge")
    class OutputSerializer(serializers.ModelSerializer):
        actor = UserRefSerializer(allow_null=True)
        moved = ContactMergeMovedSerializer(help_text="Ids of the identities and conversations moved.")

        class Meta:
            model = ContactMerge
            fields = ["id", "into", "merged_contact_id", "merged_contact_name", "moved", "actor", "reason", "at"]
            read_only_fields = fields

    @extend_schema(
        operation_id="contacts_merge",
        tags=["contacts"],
        summary="Merge a contact into another",
        description=(
            "The contact in the path is folded into `into`: its identities and conversations move, it is deleted, "
            "and the audit entry is returned. Supervisors and admins only."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, contact_id: int) -> Response:
        other = Contact.objects.filter(pk=contact_id).first()
        if other is None:
            raise NotFound(f"Contact {contact_id} not found.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        into, reason = data.validated_data["into"], data.validated_data["reason"]
        audit = do_merge_contacts(into, other, actor=_user(request), reason=reason)
        return Response(self.OutputSerializer(audit).data)


class PresenceView(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="PresenceRequest")
    class InputSerializer(serializers.Serializer):
        presence = serializers.ChoiceField(choices=Presence.choices)
        reason = serializers.ChoiceField(
            choices=AwayReason.choices,
            required=False,
            allow_blank=True,
            default="",
            help_text="Required with `away`; ignored otherwise.",
        )

    @extend_schema_serializer(component_name="AgentPresence")
    class OutputSerializer(serializers.Serializer):
        presence = serializers.ChoiceField(choices=Presence.choices)
        reason = serializers.CharField(source="presence_reason")
        since = serializers.DateTimeField(source="presence_since")

    @extend_schema(
        operation_id="agents_me_presence",
        tags=["agents"],
        summary="Set the caller's presence",
        description="Becoming available lets the router give the caller work.",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        profile = profile_of(request.user)
        if profile is None:
            raise NotFound("You have no agent profile.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = do_set_presence(profile, **data.validated_data)
        return Response(self.OutputSerializer(profile).data)
