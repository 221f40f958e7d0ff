def post_init_hook(env):
    """Companies that already have a chart of accounts get the revenue recognition journal and
    the deferred / unbilled revenue accounts (companies set up later get them when their chart
    is loaded)."""
    env["res.company"].search([])._q2c_revrec_setup_defaults()
