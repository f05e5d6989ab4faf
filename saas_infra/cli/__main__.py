"""`python -m saas_infra.cli`: the same program as the `saas-infra` console script."""

from saas_infra.cli import main

main()
