"""Complaints: seed 001's seven-step complaint procedure as a second workflow.

Why a complaint is a case row
-----------------------------
A complaint is a case of the ``complaint`` workflow (``workflows/complaint.yaml``) stored as
a row of the same case table as the customer's prospect (``prospects``, with
``workflow_key`` the complaint workflow's and ``customer_id`` the customer's prospect), its
handler as the row's owner. So the engine, the one event path
(:func:`pipeline.prospects.events.apply`), the history, the stage visits, the records, the
escalations, the sweep and the funnel work for it unchanged, and nothing in the code knows
the complaint's steps: they are the workflow file's.

The price is that every customer view must list only the customer workflow: the board and
the lists filter by workflow (:func:`pipeline.prospects.queries.filtered`), the cap, the
duplicate checks and the funnel count only the customer workflow's rows, and a test walks
every customer view to prove a complaint never shows there.

The facts of the complaint itself (summary, category, when and by whom it was received,
the employee it names) are a row of ``complaints`` beside the case; the root-cause actions
(溯源整改) are rows of ``complaint_actions``.

The rules
---------
- The receiver is the handler (首问负责制): whoever records the complaint owns it.
- 回避: when the complaint names an employee, that employee never handles it; if the
  receiver is that employee, it goes to the employee's team lead (or, with no lead, a
  supervisor) to assign to someone else.
- One limit for the whole case (``case_limit``), counted from ``received_at``: the clock
  does not restart between steps. ``extend`` with a reason moves it, each extension by the
  roles the workflow names (403 ``not_permitted`` otherwise, 422 ``no_extension_left`` when
  none is left).
"""
