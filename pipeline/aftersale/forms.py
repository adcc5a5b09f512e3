"""The campaign form (:class:`~pipeline.aftersale.services.CreateCampaign`)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, FloatField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Optional

from pipeline import labels
from pipeline.aftersale.services import CreateCampaign
from pipeline.engine.definition import TIERS
from pipeline.forms import CommandForm, hints, options


class CampaignForm(CommandForm):
    schema = CreateCampaign
    name = StringField(_l("Market event"), validators=[hints(CreateCampaign, "name")],
                       description=_l("What happened, e.g. a rate cut or a new fund."))
    due_on = DateField(_l("Contact the customers by"), validators=[Optional()])
    tiers = SelectMultipleField(_l("Tiers"), choices=options(labels.choices(labels.TIERS, TIERS)),
                                validate_choice=False,
                                description=_l("None chosen: every tier."))
    min_assets = FloatField(_l("Assets from (CNY)"), validators=[Optional()])
    product = StringField(_l("Product held"), validators=[hints(CreateCampaign, "product")],
                          description=_l("Customers with an imported event of this product."))
    note = TextAreaField(_l("Note for the managers"), validators=[hints(CreateCampaign, "note")])

    def command(self) -> dict[str, Any]:
        return {"name": self.name.data, "due_on": self.due_on.data,
                "note": (self.note.data or "").strip() or None,
                "tiers": list(self.tiers.data or []), "min_assets": self.min_assets.data,
                "product": (self.product.data or "").strip() or None}
