from ganforge.cli.main import main

raise SystemExit(main())
