"""A study's results, one module per step:

``load`` (the database to plain ``records``) -> ``analyse`` (and ``analyse_cnr``; Django-free) ->
``sheets`` (tables, XLSX and CSV bytes) -> ``files`` (export files kept per study version) ->
``pages`` (the results page, report, downloads and the JSON analysis; ``urls`` routes them).
Each step imports only the steps before it.
"""
