from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Web chat: chat channels, visitors, the customer websocket and the connector that answers them."""

    name = "chat"

    def ready(self) -> None:
        from chat.connector import ChatConnector
        from monitoring.platforms import register

        register(ChatConnector)
