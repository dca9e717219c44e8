"""Small analytic models of GAN training dynamics (the Dirac-GAN of SD-GAN Sec. 3 and R3GAN App. H)."""
