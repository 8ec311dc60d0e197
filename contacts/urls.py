from django.urls import path

from . import views

urlpatterns = [path("contacts/unsubscribe/<str:token>", views.unsubscribe, name="contacts-unsubscribe")]
